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


class Message(Summary):
    in_reply_to: str | None = None
    references: list[str] = []
    reply_to: list[AddressIn] = []
    text: str = ""
    html: str = ""
    attachments: list[AttachmentInfo] = []
    deliveries: list[Delivery] = []


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


class SendResult(Model):
    message_id: str
    uid: int | None = None
    folder: str = "Sent"
    status: str
    recipients: list[RecipientStatus] = []
    note: str | None = None


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
