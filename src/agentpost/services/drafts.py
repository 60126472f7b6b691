"""Drafts: messages an agent composes over several calls and sends when ready.

A draft is a row, not a message in a folder: it can be incomplete (no recipient yet), it is
edited in place, and it never reaches anyone until it is sent. Sending goes through
``services.outbox.submit_message`` with every check a direct send gets (permissions, guard,
audit, default signature); the draft row is deleted inside the send's own transaction, so it
disappears exactly when the message is stored, and two concurrent sends of one draft cannot
both succeed (the second finds no row and its send is rolled back).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import AddressError, parse_address_list
from agentpost.domain.mime import normalize_message_id, split_references
from agentpost.errors import DraftNotFound, InvalidInput
from agentpost.services import outbox
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, SendResult
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import content as repo
from agentpost.storage.repositories.content import DraftRecord

MAX_DRAFTS = 500
MAX_SUBJECT = 998
MAX_BODY = 5_000_000
NO_SUBJECT = "(no subject)"


@dataclass(frozen=True, slots=True)
class DraftInput:
    """Draft fields; on update ``None`` leaves a field as it is and ``""`` clears it."""

    to: str | list[str] | None = None
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    in_reply_to: str | None = None
    references: str | list[str] | None = None


def _addresses(value: str | list[str], field: str) -> str | None:
    try:
        found = parse_address_list(value, field=field)
    except AddressError as exc:
        raise InvalidInput(str(exc), field=field) from exc
    return ", ".join(a.formatted() for a in found) or None


def _values(data: DraftInput) -> dict[str, object]:
    """Validated column values for the fields ``data`` sets."""
    values: dict[str, object] = {}
    for name in ("to", "cc", "bcc"):
        given = getattr(data, name)
        if given is not None:
            values[name] = _addresses(given, name)
    if data.subject is not None:
        if len(data.subject) > MAX_SUBJECT or "\n" in data.subject or "\r" in data.subject:
            raise InvalidInput(
                f"subject must be one line of at most {MAX_SUBJECT} characters", field="subject"
            )
        values["subject"] = data.subject or None
    for name in ("text", "html"):
        given = getattr(data, name)
        if given is not None:
            if len(given) > MAX_BODY:
                raise InvalidInput(f"{name} is longer than {MAX_BODY} characters", field=name)
            values[name] = given or None
    if data.in_reply_to is not None:
        message_id = normalize_message_id(data.in_reply_to) if data.in_reply_to else ""
        if data.in_reply_to and not message_id:
            raise InvalidInput(
                "inReplyTo must be a Message-ID such as <id@host>", field="inReplyTo"
            )
        values["in_reply_to"] = message_id or None
    if data.references is not None:
        values["references"] = split_references(data.references)
    return values


async def list_drafts(ctx: AppContext, agent: AgentRecord) -> list[DraftRecord]:
    async with ctx.db.read() as conn:
        return await repo.list_drafts(conn, agent.id)


async def get_draft(ctx: AppContext, agent: AgentRecord, draft_id: str) -> DraftRecord:
    async with ctx.db.read() as conn:
        return await _load(conn, agent, draft_id)


async def create_draft(ctx: AppContext, agent: AgentRecord, data: DraftInput) -> DraftRecord:
    values = _values(data)
    draft_id = str(uuid.uuid4())
    async with ctx.db.write() as conn:
        if await repo.count_drafts(conn, agent.id) >= MAX_DRAFTS:
            raise InvalidInput(
                f"at most {MAX_DRAFTS} drafts per agent; send or delete some first",
                code="limit_reached",
            )
        await repo.insert_draft(conn, id=draft_id, agent_id=agent.id, fields=values, now=now_utc())
        return await _load(conn, agent, draft_id)


async def update_draft(
    ctx: AppContext, agent: AgentRecord, draft_id: str, data: DraftInput
) -> DraftRecord:
    values = _values(data)
    async with ctx.db.write() as conn:
        if not await repo.update_draft(conn, agent.id, draft_id, values, now_utc()):
            raise _not_found(draft_id)
        return await _load(conn, agent, draft_id)


async def delete_draft(ctx: AppContext, agent: AgentRecord, draft_id: str) -> None:
    async with ctx.db.write() as conn:
        if not await repo.delete_draft(conn, agent.id, draft_id):
            raise _not_found(draft_id)


def send_request(draft: DraftRecord, *, signature: bool = True) -> SendRequest:
    if not draft.to:
        raise InvalidInput(
            "the draft has no recipient; set one with manage_drafts update (to)", field="to"
        )
    return SendRequest(
        to=draft.to,
        cc=draft.cc,
        bcc=draft.bcc,
        subject=draft.subject or NO_SUBJECT,
        text=draft.text or "",
        html=draft.html or "",
        in_reply_to=draft.in_reply_to,
        references=draft.references or None,
        signature=signature,
    )


async def send_draft(
    ctx: AppContext, agent: AgentRecord, draft_id: str, *, signature: bool = True
) -> SendResult:
    """Send the draft like send_email; it is removed only when the send is stored."""
    draft = await get_draft(ctx, agent, draft_id)

    async def remove_draft(conn: AsyncConnection, _message_id: str) -> None:
        if not await repo.delete_draft(conn, agent.id, draft_id):
            raise DraftNotFound(f"draft {draft_id} was sent or deleted meanwhile", field="id")

    return await outbox.submit_message(
        ctx, agent, send_request(draft, signature=signature), within=remove_draft
    )


async def _load(conn: AsyncConnection, agent: AgentRecord, draft_id: str) -> DraftRecord:
    record = await repo.get_draft(conn, agent.id, draft_id)
    if record is None:
        raise _not_found(draft_id)
    return record


def _not_found(draft_id: str) -> DraftNotFound:
    return DraftNotFound(f"no draft with id {draft_id}; manage_drafts list shows yours", field="id")
