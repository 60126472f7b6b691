"""Templates: named subject and body with ``{{ variable }}`` placeholders, and sending one.

Rendering is domain/templates.py (no code execution; every placeholder needs a value, and a
missing one is an error naming all of them). A rendered template is sent through
``services.outbox.submit_message`` like any other mail, so permissions, the outbound guard,
the audit log and the default signature all apply. Creating a template with a name the agent
already uses replaces its content and keeps its id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain import templates as render
from agentpost.errors import InvalidInput, TemplateNotFound, TemplateVariablesMissing
from agentpost.services import outbox
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, SendResult
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import content as repo
from agentpost.storage.repositories.content import TemplateRecord

MAX_TEMPLATES = 200
MAX_NAME = 200
MAX_SUBJECT = 998  # RFC 5322 §2.1.1 line limit
MAX_BODY = 1_000_000
MAX_VARIABLES = 200


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """Create (name, subject and text required) or update (``None`` leaves a field)."""

    name: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateSend:
    to: str | list[str]
    variables: Mapping[str, object]
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    signature: bool = True


def _field(value: str | None, field: str, limit: int, *, required: bool) -> str:
    value = (value or "").strip() if field in ("name", "subject") else value or ""
    if required and not value.strip():
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return value


async def list_templates(ctx: AppContext, agent: AgentRecord) -> list[TemplateRecord]:
    async with ctx.db.read() as conn:
        return await repo.list_templates(conn, agent.id)


async def get_template(ctx: AppContext, agent: AgentRecord, template_id: str) -> TemplateRecord:
    async with ctx.db.read() as conn:
        return await _load(conn, agent, template_id)


async def create_template(
    ctx: AppContext, agent: AgentRecord, data: TemplateInput
) -> TemplateRecord:
    name = _field(data.name, "name", MAX_NAME, required=True)
    subject = _field(data.subject, "subject", MAX_SUBJECT, required=True)
    text = _field(data.text, "text", MAX_BODY, required=True)
    html = _field(data.html, "html", MAX_BODY, required=False) or None
    now = now_utc()
    async with ctx.db.write() as conn:
        existing = await repo.template_by_name(conn, agent.id, name)
        if existing is not None:
            values = {"subject": subject, "text_body": text, "html_body": html}
            await repo.update_template(conn, agent.id, existing.id, values | {"updated_at": now})
            return await _load(conn, agent, existing.id)
        if await repo.count_templates(conn, agent.id) >= MAX_TEMPLATES:
            raise InvalidInput(
                f"at most {MAX_TEMPLATES} templates per agent; delete one first",
                code="limit_reached",
            )
        record = TemplateRecord(str(uuid.uuid4()), agent.id, name, subject, text, html, now, now)
        await repo.insert_template(conn, record)
        return record


async def update_template(
    ctx: AppContext, agent: AgentRecord, template_id: str, data: TemplateInput
) -> TemplateRecord:
    values: dict[str, object] = {"updated_at": now_utc()}
    if data.name is not None:
        values["name"] = _field(data.name, "name", MAX_NAME, required=True)
    if data.subject is not None:
        values["subject"] = _field(data.subject, "subject", MAX_SUBJECT, required=True)
    if data.text is not None:
        values["text_body"] = _field(data.text, "text", MAX_BODY, required=True)
    if data.html is not None:
        values["html_body"] = _field(data.html, "html", MAX_BODY, required=False) or None
    async with ctx.db.write() as conn:
        current = await _load(conn, agent, template_id)
        renamed = "name" in values and values["name"] != current.name
        if renamed and await repo.template_by_name(conn, agent.id, str(values["name"])):
            raise InvalidInput(f"a template named {values['name']!r} exists", field="name")
        await repo.update_template(conn, agent.id, template_id, values)
        return await _load(conn, agent, template_id)


async def delete_template(ctx: AppContext, agent: AgentRecord, template_id: str) -> None:
    async with ctx.db.write() as conn:
        if not await repo.delete_template(conn, agent.id, template_id):
            raise _not_found(template_id)


def fill(template: TemplateRecord, variables: Mapping[str, object]) -> render.Rendered:
    """The template with its variables filled in; errors name every missing variable."""
    if len(variables) > MAX_VARIABLES:
        raise InvalidInput(f"at most {MAX_VARIABLES} variables", field="variables")
    try:
        return render.render(template.subject, template.text, template.html or "", variables)
    except render.TemplateError as exc:
        if exc.missing:
            raise TemplateVariablesMissing(str(exc), field="variables") from exc
        raise InvalidInput(str(exc), field="variables") from exc


async def send_template(
    ctx: AppContext, agent: AgentRecord, template_id: str, data: TemplateSend
) -> SendResult:
    """Fill the template and send it through the outbox (every send check applies)."""
    template = await get_template(ctx, agent, template_id)
    filled = fill(template, data.variables)
    request = SendRequest(
        to=data.to,
        cc=data.cc,
        bcc=data.bcc,
        subject=filled.subject,
        text=filled.text,
        html=filled.html,
        signature=data.signature,
    )
    return await outbox.submit_message(ctx, agent, request)


async def _load(conn: AsyncConnection, agent: AgentRecord, template_id: str) -> TemplateRecord:
    record = await repo.get_template(conn, agent.id, template_id)
    if record is None:
        raise _not_found(template_id)
    return record


def _not_found(template_id: str) -> TemplateNotFound:
    return TemplateNotFound(
        f"no template with id {template_id}; manage_templates list shows yours", field="id"
    )
