"""The wire shapes of the REST API (docs/api.md): camelCase on the wire, snake_case here.

Requests are ``XCreate`` / ``XUpdate``, answers ``XPublic``. Unknown request fields are
ignored so clients of the original AgenticMail (which send a few fields we do not use) keep
working. Timestamps go out as ISO 8601 UTC with a ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from agentpost.services.mailbox import MAX_BATCH

MAX_ATTACHMENTS = 100
FOLDER_NAME_MAX = 200
CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$"


def iso_z(value: datetime) -> str:
    """``2026-11-22T10:00:00Z``: UTC, second precision, the form docs/api.md promises."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: object, field: str) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime; naive input is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an ISO 8601 date or date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{field} must be an ISO 8601 date or date-time such as 2026-11-22 or "
            f"2026-11-22T10:00:00Z; got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


UtcDatetime = Annotated[datetime, PlainSerializer(iso_z, return_type=str)]
AddressesIn = str | list[str]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


# -- errors and health ---------------------------------------------------------------------


class ErrorPublic(ApiModel):
    error: str = Field(description="What went wrong and what to do about it.")
    code: str = Field(description="A stable code clients can switch on.")
    field: str | None = Field(default=None, description="The input field at fault, if one is.")


class HealthPublic(ApiModel):
    status: str
    version: str
    services: dict[str, str]
    timestamp: UtcDatetime


# -- accounts ------------------------------------------------------------------------------


class AgentCreate(ApiModel):
    name: str
    role: str | None = None
    metadata: dict[str, Any] | None = None
    persistent: bool = False
    domain: str | None = None


class AgentUpdate(ApiModel):
    metadata: dict[str, Any] = Field(
        description="Merged into the agent's metadata; a null value removes that key."
    )


class AgentPublic(ApiModel):
    id: str
    name: str
    email: str
    role: str
    metadata: dict[str, Any]
    persistent: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    last_activity_at: UtcDatetime | None


class AgentCreatedPublic(AgentPublic):
    api_key: str = Field(description="The agent's API key. Shown this once, never again.")


class AgentsPublic(ApiModel):
    agents: list[AgentPublic]


class DirectoryEntryPublic(ApiModel):
    name: str
    email: str
    role: str


class DirectoryPublic(ApiModel):
    agents: list[DirectoryEntryPublic]


class AgentDeletedPublic(ApiModel):
    deleted: bool
    name: str
    email: str
    deletion_id: str | None = Field(default=None, description="The deletion report's id.")
    emails_archived: int | None = None
    deleted_at: UtcDatetime | None = None
    top_correspondents: list[str] | None = None


class AgentKeyPublic(AgentPublic):
    api_key: str = Field(
        description="The agent's new API key. Shown this once, never again; the old key has "
        "stopped working."
    )


class OwnerPublic(ApiModel):
    id: str
    name: str
    email: str | None
    is_default: bool
    created_at: UtcDatetime


class OwnerKeyPublic(OwnerPublic):
    api_key: str = Field(
        description="The owner's new owner key. Shown this once, never again; the old key has "
        "stopped working."
    )


# -- messages ------------------------------------------------------------------------------


class AddressPublic(ApiModel):
    name: str
    address: str


class SummaryPublic(ApiModel):
    uid: int
    folder: str
    message_id: str
    thread_id: str
    subject: str
    from_: AddressPublic = Field(alias="from")
    to: list[AddressPublic]
    cc: list[AddressPublic]
    date: UtcDatetime
    received_at: UtcDatetime
    flags: list[str]
    seen: bool
    size: int
    has_attachments: bool
    preview: str
    spam_score: int | None = Field(
        default=None, description="Spam score from the delivery-time scan (listings only)."
    )
    spam_verdict: str | None = Field(default=None, description="ham, warning or spam.")


class AttachmentPublic(ApiModel):
    index: int
    filename: str
    content_type: str
    size: int


class DeliveryPublic(ApiModel):
    recipient: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    updated_at: UtcDatetime
    # The delivery queue (external recipients): the SMTP reply code of the last attempt,
    # when the next one is due, when retrying stops, when the server accepted it.
    last_code: int | None = None
    next_attempt_at: UtcDatetime | None = None
    deadline_at: UtcDatetime | None = None
    delivered_at: UtcDatetime | None = None


class RuleMatchPublic(ApiModel):
    rule_id: str
    category: str
    score: int
    description: str


class AttachmentRiskPublic(ApiModel):
    filename: str
    level: str = Field(description="CRITICAL, HIGH or MEDIUM.")
    reason: str


class SanitizeDetectionPublic(ApiModel):
    type: str
    description: str
    count: int


class AuthResultsPublic(ApiModel):
    spf: str | None
    dkim: str | None
    dmarc: str | None


class SecurityPublic(ApiModel):
    """The trust envelope of a message read by an agent (docs/api/safety.md)."""

    internal: bool = Field(description="Sent by an agent of this server.")
    authenticated: bool | None = Field(
        description="Sender authenticated (SPF/DKIM/DMARC, or this server); null: unknown."
    )
    auth: AuthResultsPublic
    first_contact: bool = Field(description="This agent never wrote to the sender.")
    spam_score: int
    is_spam: bool
    is_warning: bool
    verdict: str = Field(description="ham, warning or spam (a report by the agent counts).")
    top_category: str | None
    matches: list[RuleMatchPublic]
    injection_score: int
    injection: list[RuleMatchPublic]
    phishing: list[RuleMatchPublic]
    attachment_risks: list[AttachmentRiskPublic]
    automated: list[str] = Field(description="Signs of an auto-reply, bounce or list mail.")
    sanitized: bool = Field(description="The text and html above were cleaned; see detections.")
    sanitize_detections: list[SanitizeDetectionPublic]
    fence: str


class MessagePublic(SummaryPublic):
    in_reply_to: str | None
    references: list[str]
    reply_to: list[AddressPublic]
    text: str
    html: str
    attachments: list[AttachmentPublic]
    deliveries: list[DeliveryPublic]
    security: SecurityPublic | None = None


class PagePublic(ApiModel):
    messages: list[SummaryPublic]
    count: int
    total: int
    folder: str


class DigestItemPublic(ApiModel):
    uid: int
    subject: str
    from_: AddressPublic = Field(alias="from")
    to: list[AddressPublic]
    date: UtcDatetime
    flags: list[str]
    seen: bool
    size: int
    preview: str


class DigestPublic(ApiModel):
    messages: list[DigestItemPublic]
    count: int
    total: int
    folder: str


class SearchCreate(ApiModel):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    subject: str | None = None
    text: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    seen: bool | None = None
    folder: str = Field(default="INBOX", min_length=1, max_length=FOLDER_NAME_MAX)
    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0)
    search_relay: bool = Field(default=False, description="Accepted; relay search comes later.")

    @field_validator("since", "before", mode="before")
    @classmethod
    def _instant(cls, value: object, info: ValidationInfo) -> datetime | None:
        return parse_instant(value, str(info.field_name))


class SearchPublic(ApiModel):
    uids: list[int]
    messages: list[SummaryPublic]
    total: int


# -- sending -------------------------------------------------------------------------------


class AttachmentCreate(ApiModel):
    filename: str = Field(min_length=1, max_length=255)
    content: str
    content_type: str | None = Field(default=None, pattern=CONTENT_TYPE_PATTERN, max_length=255)
    encoding: str | None = Field(default=None, description='"base64" or "utf-8" (default).')


class SendCreate(ApiModel):
    to: AddressesIn
    subject: str
    text: str | None = None
    html: str | None = None
    cc: AddressesIn | None = None
    bcc: AddressesIn | None = None
    reply_to: AddressesIn | None = None
    in_reply_to: str | None = None
    references: str | list[str] | None = None
    attachments: list[AttachmentCreate] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    signature: bool = Field(
        default=True, description="Append your default signature (false: send without it)."
    )


class ReplyCreate(ApiModel):
    text: str = ""
    html: str | None = None
    reply_all: bool = False
    folder: str = Field(default="INBOX", min_length=1, max_length=FOLDER_NAME_MAX)


class ForwardCreate(ApiModel):
    to: AddressesIn
    text: str = ""
    cc: AddressesIn | None = None
    folder: str = Field(default="INBOX", min_length=1, max_length=FOLDER_NAME_MAX)


class RecipientPublic(ApiModel):
    address: str
    kind: str
    status: str
    error: str | None = None


class FindingPublic(ApiModel):
    """One outbound-guard rule that matched: never the matched text itself."""

    rule_id: str
    family: str
    severity: str = Field(description="HIGH, MEDIUM or LOW.")
    description: str
    where: str = Field(description='"message" or "attachment <filename>".')


class SendResultPublic(ApiModel):
    message_id: str
    uid: int | None = Field(default=None, description="The Sent copy's UID; absent when held.")
    folder: str
    status: str = Field(description="delivered, queued, failed, or held (HTTP 202).")
    recipients: list[RecipientPublic]
    note: str | None = None
    warnings: list[FindingPublic] | None = Field(
        default=None, description="What the outbound guard found (sent with a warning, or held)."
    )
    pending_id: str | None = Field(default=None, description="The held message (status held).")
    expires_at: UtcDatetime | None = None
    remind_at: UtcDatetime | None = None


# -- organising ----------------------------------------------------------------------------


class OkPublic(ApiModel):
    ok: bool = True


class DeletedPublic(ApiModel):
    ok: bool = True
    uid: int
    deleted: bool = True
    moved_to: str | None = Field(description='"Trash", or null when removed for good.')


class MoveCreate(ApiModel):
    to: str = Field(min_length=1, max_length=FOLDER_NAME_MAX)
    from_: str = Field(default="INBOX", alias="from", min_length=1, max_length=FOLDER_NAME_MAX)


class MovedPublic(ApiModel):
    ok: bool = True
    uid: int
    new_uid: int
    folder: str


class FolderPublic(ApiModel):
    name: str
    path: str
    special_use: str | None
    total: int
    unseen: int


class FoldersPublic(ApiModel):
    folders: list[FolderPublic]


class FolderCreate(ApiModel):
    name: str


class FolderCreatedPublic(ApiModel):
    ok: bool = True
    folder: str


# -- batches -------------------------------------------------------------------------------

Uids = Annotated[list[StrictInt], Field(min_length=1, max_length=MAX_BATCH)]


class BatchCreate(ApiModel):
    uids: Uids
    folder: str = Field(default="INBOX", min_length=1, max_length=FOLDER_NAME_MAX)


class BatchMoveCreate(ApiModel):
    uids: Uids
    to: str = Field(min_length=1, max_length=FOLDER_NAME_MAX)
    from_: str = Field(default="INBOX", alias="from", min_length=1, max_length=FOLDER_NAME_MAX)


class BatchDeletedPublic(ApiModel):
    ok: bool = True
    deleted: int
    uids: list[int]


class BatchMarkedPublic(ApiModel):
    ok: bool = True
    marked: int


class BatchMovedPublic(ApiModel):
    ok: bool = True
    moved: int
    uids: dict[str, int] = Field(description="Old UID → new UID in the target folder.")


class BatchReadPublic(ApiModel):
    messages: list[MessagePublic]
    count: int


# -- waiting -------------------------------------------------------------------------------


class WaitPublic(ApiModel):
    arrived: bool
    timed_out: bool | None = None
    event_type: str | None = None
    uid: int | None = None
    folder: str | None = None
    subject: str | None = None
    from_: str | None = Field(default=None, alias="from")
    message_id: str | None = None
    task: dict[str, Any] | None = None  # eventType "task": the task event's fields
    reminders: list[dict[str, Any]] | None = None  # eventType "reminder": the claimed reminders
