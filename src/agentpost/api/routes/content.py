"""Contacts, drafts, signatures, templates and scheduled sends of the calling agent.

Every route needs an agent key and sees only that agent's rows: another agent's id answers
404 exactly like an unknown one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from agentpost.api.content_schemas import (
    ContactCreate,
    ContactPublic,
    ContactSavedPublic,
    ContactsPublic,
    ContactUpdate,
    DraftCreate,
    DraftPublic,
    DraftSendCreate,
    DraftsPublic,
    DraftUpdate,
    ScheduledCreate,
    ScheduledListPublic,
    ScheduledPublic,
    SignatureCreate,
    SignaturePublic,
    SignaturesPublic,
    SignatureUpdate,
    TemplateCreate,
    TemplatePublic,
    TemplateSendCreate,
    TemplatesPublic,
    TemplateUpdate,
    contact_of,
    draft_of,
    scheduled_of,
    signature_of,
    template_of,
)
from agentpost.api.deps import AgentDep, CtxDep
from agentpost.api.presenters import send_result_of
from agentpost.api.schemas import OkPublic, SendResultPublic
from agentpost.domain.templates import placeholders
from agentpost.services import contacts, drafts, scheduled, signatures, templates
from agentpost.services.contacts import ContactChange
from agentpost.services.drafts import DraftInput
from agentpost.services.scheduled import ScheduleInput
from agentpost.services.signatures import SignatureInput
from agentpost.services.templates import TemplateInput, TemplateSend
from agentpost.storage.repositories.content import TemplateRecord

router = APIRouter(tags=["content"])
IdPath = Annotated[str, Path(min_length=1, max_length=64, description="The row's id.")]


# -- contacts ------------------------------------------------------------------------------


@router.get("/contacts")
async def list_contacts(ctx: CtxDep, agent: AgentDep) -> ContactsPublic:
    """Your contacts, by name then address."""
    return ContactsPublic(
        contacts=[contact_of(c) for c in await contacts.list_contacts(ctx, agent)]
    )


@router.post("/contacts")
async def add_contact(ctx: CtxDep, agent: AgentDep, body: ContactCreate) -> ContactSavedPublic:
    """Add a contact; a known address is updated instead (same id)."""
    record, created = await contacts.add_contact(ctx, agent, body.email, body.name, body.notes)
    return ContactSavedPublic(**contact_of(record).model_dump(), created=created)


@router.patch("/contacts/{contact_id}")
async def update_contact(
    ctx: CtxDep, agent: AgentDep, contact_id: IdPath, body: ContactUpdate
) -> ContactPublic:
    """Change a contact's address, name or notes."""
    change = ContactChange(email=body.email, name=body.name, notes=body.notes)
    return contact_of(await contacts.update_contact(ctx, agent, contact_id, change))


@router.delete("/contacts/{contact_id}")
async def delete_contact(ctx: CtxDep, agent: AgentDep, contact_id: IdPath) -> OkPublic:
    """Remove a contact."""
    await contacts.delete_contact(ctx, agent, contact_id)
    return OkPublic()


# -- drafts --------------------------------------------------------------------------------


def _draft_input(body: DraftCreate) -> DraftInput:
    return DraftInput(
        to=body.to,
        cc=body.cc,
        bcc=body.bcc,
        subject=body.subject,
        text=body.text,
        html=body.html,
        in_reply_to=body.in_reply_to,
        references=body.references,
    )


@router.get("/drafts")
async def list_drafts(ctx: CtxDep, agent: AgentDep) -> DraftsPublic:
    """Your drafts, most recently changed first."""
    return DraftsPublic(drafts=[draft_of(d) for d in await drafts.list_drafts(ctx, agent)])


@router.post("/drafts")
async def create_draft(ctx: CtxDep, agent: AgentDep, body: DraftCreate) -> DraftPublic:
    """Save a draft; every field is optional until it is sent."""
    return draft_of(await drafts.create_draft(ctx, agent, _draft_input(body)))


@router.get("/drafts/{draft_id}")
async def get_draft(ctx: CtxDep, agent: AgentDep, draft_id: IdPath) -> DraftPublic:
    """One draft."""
    return draft_of(await drafts.get_draft(ctx, agent, draft_id))


@router.put("/drafts/{draft_id}")
async def update_draft(
    ctx: CtxDep, agent: AgentDep, draft_id: IdPath, body: DraftUpdate
) -> DraftPublic:
    """Change a draft: fields you send replace the old values; omitted fields stay."""
    return draft_of(await drafts.update_draft(ctx, agent, draft_id, _draft_input(body)))


@router.delete("/drafts/{draft_id}")
async def delete_draft(ctx: CtxDep, agent: AgentDep, draft_id: IdPath) -> OkPublic:
    """Discard a draft."""
    await drafts.delete_draft(ctx, agent, draft_id)
    return OkPublic()


@router.post("/drafts/{draft_id}/send", response_model_exclude_none=True)
async def send_draft(
    ctx: CtxDep, agent: AgentDep, draft_id: IdPath, body: DraftSendCreate | None = None
) -> SendResultPublic:
    """Send a draft with every check a send gets; the draft is removed once it is sent."""
    signature = body.signature if body is not None else True
    return send_result_of(await drafts.send_draft(ctx, agent, draft_id, signature=signature))


# -- signatures ----------------------------------------------------------------------------


@router.get("/signatures")
async def list_signatures(ctx: CtxDep, agent: AgentDep) -> SignaturesPublic:
    """Your signatures, the default first."""
    found = await signatures.list_signatures(ctx, agent)
    return SignaturesPublic(signatures=[signature_of(s) for s in found])


@router.post("/signatures")
async def create_signature(ctx: CtxDep, agent: AgentDep, body: SignatureCreate) -> SignaturePublic:
    """Create a signature (an existing name is replaced); isDefault makes it the default."""
    data = SignatureInput(body.name, body.text, body.html, body.is_default)
    return signature_of(await signatures.create_signature(ctx, agent, data))


@router.patch("/signatures/{signature_id}")
async def update_signature(
    ctx: CtxDep, agent: AgentDep, signature_id: IdPath, body: SignatureUpdate
) -> SignaturePublic:
    """Rename, change or make (isDefault true) or unmake (false) the default."""
    data = SignatureInput(body.name, body.text, body.html, body.is_default)
    return signature_of(await signatures.update_signature(ctx, agent, signature_id, data))


@router.delete("/signatures/{signature_id}")
async def delete_signature(ctx: CtxDep, agent: AgentDep, signature_id: IdPath) -> OkPublic:
    """Delete a signature."""
    await signatures.delete_signature(ctx, agent, signature_id)
    return OkPublic()


# -- templates -----------------------------------------------------------------------------


def _template(record: TemplateRecord) -> TemplatePublic:
    return template_of(record, placeholders(record.subject, record.text, record.html or ""))


@router.get("/templates")
async def list_templates(ctx: CtxDep, agent: AgentDep) -> TemplatesPublic:
    """Your templates, by name."""
    found = await templates.list_templates(ctx, agent)
    return TemplatesPublic(templates=[_template(t) for t in found])


@router.post("/templates")
async def create_template(ctx: CtxDep, agent: AgentDep, body: TemplateCreate) -> TemplatePublic:
    """Create a template (an existing name is replaced, keeping its id)."""
    data = TemplateInput(body.name, body.subject, body.text, body.html)
    return _template(await templates.create_template(ctx, agent, data))


@router.get("/templates/{template_id}")
async def get_template(ctx: CtxDep, agent: AgentDep, template_id: IdPath) -> TemplatePublic:
    """One template with the variables it needs."""
    return _template(await templates.get_template(ctx, agent, template_id))


@router.patch("/templates/{template_id}")
async def update_template(
    ctx: CtxDep, agent: AgentDep, template_id: IdPath, body: TemplateUpdate
) -> TemplatePublic:
    """Change a template's name, subject or bodies."""
    data = TemplateInput(body.name, body.subject, body.text, body.html)
    return _template(await templates.update_template(ctx, agent, template_id, data))


@router.delete("/templates/{template_id}")
async def delete_template(ctx: CtxDep, agent: AgentDep, template_id: IdPath) -> OkPublic:
    """Delete a template."""
    await templates.delete_template(ctx, agent, template_id)
    return OkPublic()


@router.post("/templates/{template_id}/send", response_model_exclude_none=True)
async def send_template(
    ctx: CtxDep, agent: AgentDep, template_id: IdPath, body: TemplateSendCreate
) -> SendResultPublic:
    """Fill the template's {{ variables }} and send it like send_email."""
    data = TemplateSend(body.to, body.variables, body.cc, body.bcc, body.signature)
    return send_result_of(await templates.send_template(ctx, agent, template_id, data))


# -- scheduled sends -----------------------------------------------------------------------


@router.get("/scheduled")
async def list_scheduled(
    ctx: CtxDep,
    agent: AgentDep,
    status: Annotated[str | None, Query(description="Only this status.")] = None,
) -> ScheduledListPublic:
    """Your scheduled sends, every status, soonest first; times also in your zone."""
    zone = scheduled.agent_zone(agent)
    found = await scheduled.list_scheduled(ctx, agent, status)
    return ScheduledListPublic(scheduled=[scheduled_of(s, zone) for s in found])


@router.post("/scheduled")
async def create_scheduled(ctx: CtxDep, agent: AgentDep, body: ScheduledCreate) -> ScheduledPublic:
    """Schedule a send; sendAt must be in the future (at most a year ahead)."""
    data = ScheduleInput(
        to=body.to,
        subject=body.subject,
        send_at=body.send_at,
        text=body.text or "",
        html=body.html or "",
        cc=body.cc,
        bcc=body.bcc,
        signature=body.signature,
    )
    record = await scheduled.create_scheduled(ctx, agent, data)
    return scheduled_of(record, scheduled.agent_zone(agent))


@router.get("/scheduled/{scheduled_id}")
async def get_scheduled(ctx: CtxDep, agent: AgentDep, scheduled_id: IdPath) -> ScheduledPublic:
    """One scheduled send and its outcome."""
    record = await scheduled.get_scheduled(ctx, agent, scheduled_id)
    return scheduled_of(record, scheduled.agent_zone(agent))


@router.delete("/scheduled/{scheduled_id}")
async def cancel_scheduled(ctx: CtxDep, agent: AgentDep, scheduled_id: IdPath) -> OkPublic:
    """Cancel a pending scheduled send (409 once it is being sent or done)."""
    await scheduled.cancel_scheduled(ctx, agent, scheduled_id)
    return OkPublic()
