"""Wire shapes of the content routes (docs/api/content.md) and the presenters that fill them:
contacts, drafts, signatures, templates and scheduled sends. camelCase on the wire."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import Field

from agentpost.api.schemas import AddressesIn, ApiModel, UtcDatetime
from agentpost.domain.schedule import display
from agentpost.storage.repositories.content import (
    ContactRecord,
    DraftRecord,
    SignatureRecord,
    TemplateRecord,
)
from agentpost.storage.repositories.scheduled import ScheduledRecord


def _signature_flag() -> Any:
    return Field(default=True, description="Append your default signature (false: without it).")


# -- contacts ------------------------------------------------------------------------------


class ContactCreate(ApiModel):
    email: str = Field(min_length=1, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=2000)


class ContactUpdate(ApiModel):
    email: str | None = Field(default=None, min_length=1, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=2000)


class ContactPublic(ApiModel):
    id: str
    email: str
    name: str | None
    notes: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ContactSavedPublic(ContactPublic):
    created: bool = Field(description="False when an existing contact was updated.")


class ContactsPublic(ApiModel):
    contacts: list[ContactPublic]


# -- drafts --------------------------------------------------------------------------------


class DraftCreate(ApiModel):
    """Every field is optional; on update an omitted field keeps its value."""

    to: AddressesIn | None = None
    cc: AddressesIn | None = None
    bcc: AddressesIn | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    in_reply_to: str | None = None
    references: str | list[str] | None = None


class DraftUpdate(DraftCreate):
    pass


class DraftSendCreate(ApiModel):
    signature: bool = _signature_flag()


class DraftPublic(ApiModel):
    id: str
    to: str | None
    cc: str | None
    bcc: str | None
    subject: str | None
    text: str | None
    html: str | None
    in_reply_to: str | None
    references: list[str]
    created_at: UtcDatetime
    updated_at: UtcDatetime


class DraftsPublic(ApiModel):
    drafts: list[DraftPublic]


# -- signatures ----------------------------------------------------------------------------


class SignatureCreate(ApiModel):
    name: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=10_000)
    html: str | None = Field(default=None, max_length=10_000)
    is_default: bool = False


class SignatureUpdate(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    text: str | None = Field(default=None, min_length=1, max_length=10_000)
    html: str | None = Field(default=None, max_length=10_000)
    is_default: bool | None = None


class SignaturePublic(ApiModel):
    id: str
    name: str
    text: str
    html: str | None
    is_default: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime


class SignaturesPublic(ApiModel):
    signatures: list[SignaturePublic]


# -- templates -----------------------------------------------------------------------------


class TemplateCreate(ApiModel):
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=998)
    text: str = Field(min_length=1)
    html: str | None = None


class TemplateUpdate(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    subject: str | None = Field(default=None, min_length=1, max_length=998)
    text: str | None = Field(default=None, min_length=1)
    html: str | None = None


class TemplatePublic(ApiModel):
    id: str
    name: str
    subject: str
    text: str
    html: str | None
    variables: list[str] = Field(description="Placeholder names, in order of appearance.")
    created_at: UtcDatetime
    updated_at: UtcDatetime


class TemplatesPublic(ApiModel):
    templates: list[TemplatePublic]


class TemplateSendCreate(ApiModel):
    to: AddressesIn
    variables: dict[str, Any] = Field(default_factory=dict)
    cc: AddressesIn | None = None
    bcc: AddressesIn | None = None
    signature: bool = _signature_flag()


# -- scheduled sends -----------------------------------------------------------------------


class ScheduledCreate(ApiModel):
    to: AddressesIn
    subject: str = Field(min_length=1, max_length=998)
    send_at: str = Field(
        min_length=1,
        max_length=200,
        description="ISO 8601, 'in 30 minutes', 'tomorrow 8am', 'next monday 9am', "
        "'02-14-2026 3:30 PM EST' or 'tonight'; wall-clock times are in your zone.",
    )
    text: str | None = None
    html: str | None = None
    cc: AddressesIn | None = None
    bcc: AddressesIn | None = None
    signature: bool = _signature_flag()


class ScheduledPublic(ApiModel):
    id: str
    to: str
    cc: str | None
    bcc: str | None
    subject: str
    text: str
    html: str | None
    signature: bool
    send_at: UtcDatetime
    send_at_local: str = Field(description="sendAt in your zone (metadata timezone), ISO 8601.")
    timezone: str
    status: str = Field(description="pending, sending, sent, held, failed or cancelled.")
    attempts: int
    message_id: str | None
    sent_at: UtcDatetime | None
    error: str | None
    created_at: UtcDatetime


class ScheduledListPublic(ApiModel):
    scheduled: list[ScheduledPublic]


# -- presenters ----------------------------------------------------------------------------


def contact_of(record: ContactRecord) -> ContactPublic:
    return ContactPublic(
        id=record.id,
        email=record.email,
        name=record.name,
        notes=record.notes,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def draft_of(record: DraftRecord) -> DraftPublic:
    return DraftPublic(
        id=record.id,
        to=record.to,
        cc=record.cc,
        bcc=record.bcc,
        subject=record.subject,
        text=record.text,
        html=record.html,
        in_reply_to=record.in_reply_to,
        references=record.references,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def signature_of(record: SignatureRecord) -> SignaturePublic:
    return SignaturePublic(
        id=record.id,
        name=record.name,
        text=record.text,
        html=record.html,
        is_default=record.is_default,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def template_of(record: TemplateRecord, variables: list[str]) -> TemplatePublic:
    return TemplatePublic(
        id=record.id,
        name=record.name,
        subject=record.subject,
        text=record.text,
        html=record.html,
        variables=variables,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def scheduled_of(record: ScheduledRecord, zone: tzinfo) -> ScheduledPublic:
    return ScheduledPublic(
        id=record.id,
        to=record.to,
        cc=record.cc,
        bcc=record.bcc,
        subject=record.subject,
        text=record.text,
        html=record.html,
        signature=record.signature,
        send_at=record.send_at,
        send_at_local=display(record.send_at, zone),
        timezone=str(zone),
        status=record.status,
        attempts=record.attempts,
        message_id=record.message_id,
        sent_at=record.sent_at,
        error=record.error,
        created_at=record.created_at,
    )
