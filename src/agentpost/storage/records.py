"""Plain records the repositories return: no ORM identity, no lazy loading."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    id: str
    name: str
    email: str | None
    is_default: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    owner_id: str
    name: str
    address: str
    role: str
    metadata: dict[str, Any]
    persistent: bool
    used_bytes: int
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime | None


@dataclass(frozen=True, slots=True)
class FolderRecord:
    id: int
    agent_id: str
    name: str
    special_use: str | None
    uid_next: int
    uid_validity: int
    message_count: int
    unseen_count: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message's indexed fields; the raw bytes are fetched separately by blob_id."""

    id: int
    agent_id: str
    folder_id: int
    folder: str
    uid: int
    blob_id: int
    message_id: str
    in_reply_to: str | None
    references: list[str]
    thread_id: str
    subject: str
    from_addr: str
    from_name: str
    to_addrs: list[dict[str, str]]
    cc_addrs: list[dict[str, str]]
    reply_to: list[dict[str, str]]
    date: datetime
    received_at: datetime
    size: int
    flags: list[str]
    seen: bool
    attachments: list[dict[str, Any]]
    preview: str
    direction: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    message_row_id: int
    recipient: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    # The delivery queue's view (external recipients); None where it does not apply.
    config_id: str | None = None
    last_code: int | None = None
    next_attempt_at: datetime | None = None
    deadline_at: datetime | None = None
    delivered_at: datetime | None = None
