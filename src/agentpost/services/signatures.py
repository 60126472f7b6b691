"""Signatures: named text (and optional HTML) blocks; the default one is appended on send.

At most one signature per agent is the default. ``services.outbox.submit_message`` appends it
to every message the agent sends (send, reply, forward, drafts, templates, scheduled sends)
unless the request says ``signature=False``. Creating a signature with a name the agent
already uses replaces that signature's content and keeps its id.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.errors import InvalidInput, SignatureNotFound
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import content as repo
from agentpost.storage.repositories.content import SignatureRecord

MAX_SIGNATURES = 50
MAX_NAME = 200
MAX_BODY = 10_000


@dataclass(frozen=True, slots=True)
class SignatureInput:
    """Create (name and text required) or update (``None`` leaves a field as it is)."""

    name: str | None = None
    text: str | None = None
    html: str | None = None
    is_default: bool | None = None


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("name is required", field="name")
    if len(value) > MAX_NAME:
        raise InvalidInput(f"name is longer than {MAX_NAME} characters", field="name")
    return value


def _body(value: str, field: str, *, required: bool) -> str:
    if required and not value.strip():
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > MAX_BODY:
        raise InvalidInput(f"{field} is longer than {MAX_BODY} characters", field=field)
    return value.strip("\n")


async def list_signatures(ctx: AppContext, agent: AgentRecord) -> list[SignatureRecord]:
    async with ctx.db.read() as conn:
        return await repo.list_signatures(conn, agent.id)


async def create_signature(
    ctx: AppContext, agent: AgentRecord, data: SignatureInput
) -> SignatureRecord:
    name = _name(data.name or "")
    text = _body(data.text or "", "text", required=True)
    html = _body(data.html, "html", required=False) if data.html is not None else None
    now = now_utc()
    async with _changing(ctx, agent) as conn:
        existing = await repo.signature_by_name(conn, agent.id, name)
        is_default = bool(data.is_default) or (existing is not None and existing.is_default)
        if data.is_default:
            await repo.clear_default_signature(conn, agent.id)
        if existing is not None:
            values = {"text_body": text, "html_body": html, "is_default": is_default}
            await repo.update_signature(conn, agent.id, existing.id, values | {"updated_at": now})
            return await _reload(conn, agent, existing.id)
        if await repo.count_signatures(conn, agent.id) >= MAX_SIGNATURES:
            raise InvalidInput(
                f"at most {MAX_SIGNATURES} signatures per agent; delete one first",
                code="limit_reached",
            )
        record = SignatureRecord(
            str(uuid.uuid4()), agent.id, name, text, html, is_default, now, now
        )
        await repo.insert_signature(conn, record)
        return record


async def update_signature(
    ctx: AppContext, agent: AgentRecord, signature_id: str, data: SignatureInput
) -> SignatureRecord:
    values: dict[str, object] = {"updated_at": now_utc()}
    if data.name is not None:
        values["name"] = _name(data.name)
    if data.text is not None:
        values["text_body"] = _body(data.text, "text", required=True)
    if data.html is not None:
        values["html_body"] = _body(data.html, "html", required=False) or None
    async with _changing(ctx, agent) as conn:
        current = await repo.get_signature(conn, agent.id, signature_id)
        if current is None:
            raise _not_found(signature_id)
        renamed = "name" in values and values["name"] != current.name
        if renamed and await repo.signature_by_name(conn, agent.id, str(values["name"])):
            raise InvalidInput(f"a signature named {values['name']!r} exists", field="name")
        if data.is_default is not None:
            if data.is_default:
                await repo.clear_default_signature(conn, agent.id)
            values["is_default"] = data.is_default
        await repo.update_signature(conn, agent.id, signature_id, values)
        return await _reload(conn, agent, signature_id)


async def delete_signature(ctx: AppContext, agent: AgentRecord, signature_id: str) -> None:
    async with _changing(ctx, agent) as conn:
        if not await repo.delete_signature(conn, agent.id, signature_id):
            raise _not_found(signature_id)


async def default_for(ctx: AppContext, agent_id: str) -> SignatureRecord | None:
    """The agent's default signature (None: it has none). Every send asks, so it is kept for
    a moment (``AppContext.signatures``): for most agents the answer is "none"."""

    async def load() -> SignatureRecord | None:
        async with ctx.db.read() as conn:
            return await repo.default_signature(conn, agent_id)

    return await ctx.signatures.get(agent_id, load)


@asynccontextmanager
async def _changing(ctx: AppContext, agent: AgentRecord) -> AsyncIterator[AsyncConnection]:
    """A write transaction that changes the agent's signatures: the send path's cache of
    default signatures (``AppContext.signatures``) forgets the agent once it has ended."""
    try:
        async with ctx.db.write() as conn:
            yield conn
    finally:
        ctx.signatures.forget(agent.id)


async def _reload(conn: AsyncConnection, agent: AgentRecord, signature_id: str) -> SignatureRecord:
    record = await repo.get_signature(conn, agent.id, signature_id)
    if record is None:
        raise _not_found(signature_id)
    return record


def _not_found(signature_id: str) -> SignatureNotFound:
    return SignatureNotFound(
        f"no signature with id {signature_id}; manage_signatures list shows yours", field="id"
    )
