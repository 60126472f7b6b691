"""Answer models of the REST API for the Python SDK: camelCase on the wire, snake_case here;
unknown fields are kept, so a newer server does not break an older client."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _address(value: Any) -> Any:
    return {"address": value} if isinstance(value, str) else value


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="allow"
    )


class Address(Model):
    name: str | None = ""
    address: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


AddressIn = Annotated[Address, BeforeValidator(_address)]


class Summary(Model):
    uid: int
    folder: str = "INBOX"
    message_id: str | None = None
    thread_id: str | None = None
    subject: str = ""
    from_: AddressIn | None = Field(default=None, alias="from")
    to: list[AddressIn] = []
    cc: list[AddressIn] = []
    date: datetime | None = None
    received_at: datetime | None = None
    flags: list[str] = []
    seen: bool = False
    size: int = 0
    has_attachments: bool = False
    preview: str = ""
    spam_score: int | None = None
    spam_verdict: str | None = None


class AttachmentInfo(Model):
    index: int
    filename: str = "unnamed"
    content_type: str = "application/octet-stream"
    size: int = 0


class Delivery(Model):
    recipient: str
    kind: str
    status: str
    attempts: int = 0
    last_error: str | None = None
    updated_at: datetime | None = None
    last_code: int | None = None
    next_attempt_at: datetime | None = None
    deadline_at: datetime | None = None
    delivered_at: datetime | None = None


class RuleMatch(Model):
    rule_id: str
    category: str = ""
    score: int = 0
    description: str = ""


class AttachmentRisk(Model):
    filename: str
    level: str
    reason: str = ""


class SanitizeDetection(Model):
    type: str
    description: str = ""
    count: int = 0


class AuthResults(Model):
    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None


class Security(Model):
    """The trust envelope of a message (docs/api/safety.md)."""

    internal: bool = False
    authenticated: bool | None = None
    auth: AuthResults = AuthResults()
    first_contact: bool = False
    spam_score: int = 0
    is_spam: bool = False
    is_warning: bool = False
    verdict: str = "ham"
    top_category: str | None = None
    matches: list[RuleMatch] = []
    injection_score: int = 0
    injection: list[RuleMatch] = []
    phishing: list[RuleMatch] = []
    attachment_risks: list[AttachmentRisk] = []
    automated: list[str] = []
    sanitized: bool = False
    sanitize_detections: list[SanitizeDetection] = []
    fence: str = ""


class Message(Summary):
    in_reply_to: str | None = None
    references: list[str] = []
    reply_to: list[AddressIn] = []
    text: str = ""
    html: str = ""
    attachments: list[AttachmentInfo] = []
    deliveries: list[Delivery] = []
    security: Security | None = None


class MessagePage(Model):
    messages: list[Summary]
    count: int
    total: int
    folder: str = "INBOX"


class RecipientStatus(Model):
    address: str
    kind: str
    status: str
    error: str | None = None


class GuardFinding(Model):
    """One outbound-guard rule that matched (never the matched text)."""

    rule_id: str
    family: str = ""
    severity: str = ""
    description: str = ""
    where: str = ""


class SendResult(Model):
    message_id: str
    uid: int | None = None
    folder: str = "Sent"
    status: str
    recipients: list[RecipientStatus] = []
    note: str | None = None
    # The outbound guard: warnings, and for status "held" the pending item.
    warnings: list[GuardFinding] = []
    pending_id: str | None = None
    expires_at: datetime | None = None
    remind_at: datetime | None = None


class OutgoingAttachment(Model):
    filename: str
    content: str
    content_type: str | None = None
    encoding: Literal["base64", "utf-8"] | None = None


class Agent(Model):
    id: str
    name: str
    email: str
    role: str = ""
    metadata: dict[str, Any] = {}
    persistent: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_activity_at: datetime | None = None


class CreatedAgent(Agent):
    api_key: str


class DirectoryEntry(Model):
    name: str
    email: str
    role: str = ""


class OwnerKey(Model):
    """An owner with the new key a rotation gave it (shown once)."""

    id: str
    name: str
    email: str | None = None
    is_default: bool = False
    created_at: datetime | None = None
    api_key: str


class AgentDeleted(Model):
    deleted: bool
    name: str
    email: str


class Health(Model):
    status: str
    version: str = ""
    services: dict[str, str] = {}
    timestamp: datetime | None = None


class Folder(Model):
    name: str
    path: str = ""
    special_use: str | None = None
    total: int = 0
    unseen: int = 0


class DigestEntry(Model):
    uid: int
    subject: str = ""
    from_: AddressIn | None = Field(default=None, alias="from")
    to: list[AddressIn] = []
    date: datetime | None = None
    flags: list[str] = []
    seen: bool = False
    size: int = 0
    preview: str = ""


class Digest(Model):
    messages: list[DigestEntry]
    count: int
    total: int
    folder: str = "INBOX"


class SearchResult(Model):
    uids: list[int]
    messages: list[Summary] = []
    total: int = 0


class DeleteResult(Model):
    uid: int
    deleted: bool
    moved_to: str | None = None


class MoveResult(Model):
    uid: int
    new_uid: int
    folder: str


class BatchDeleted(Model):
    deleted: int
    uids: list[int] = []


class BatchMoved(Model):
    moved: int
    uids: dict[str, int] = {}


class WaitResult(Model):
    arrived: bool
    timed_out: bool = False
    event_type: str | None = None
    uid: int | None = None
    folder: str | None = None
    subject: str | None = None
    from_: str | None = Field(default=None, alias="from")
    message_id: str | None = None
    task: dict[str, Any] | None = None  # event_type "task": the task event's fields
    reminders: list[dict[str, Any]] | None = None  # event_type "reminder": held-mail reminders
