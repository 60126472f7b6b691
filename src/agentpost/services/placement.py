"""Where an inbound copy lands: the delivery-time decisions for every incoming message.

Every path that puts a message into an agent's mailbox from outside that agent (SMTP, local
delivery of another agent's mail, relay import) goes through here, so filtering happens when
mail is delivered, not when a client happens to read it:

1. ``inspect`` runs once per message, before the write transaction and off the event loop:
   content checks that need no database (spam, phishing and injection scoring).
2. ``place`` runs inside the write transaction, once per recipient agent: the recipient's own
   settings (spam threshold, sender reports, the agent's rules) choose folder, flags and tags.
3. ``after_store`` runs in the same transaction once the copy exists (tags, scan rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.folders import INBOX
from agentpost.domain.mime import ParsedMessage
from agentpost.services.context import AppContext
from agentpost.services.store import StoredCopy


@dataclass(slots=True)
class Inspection:
    """What the content checks found in one message (filled in by the scanning area)."""

    results: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Placement:
    """One recipient's copy: its folder, whether it starts seen, and its tags."""

    folder: str = INBOX
    seen: bool = False
    tags: tuple[str, ...] = ()


def inspect(raw: bytes, parsed: ParsedMessage) -> Inspection:
    """Content checks on one message. CPU-bound: call it in a thread."""
    return Inspection()


async def place(
    ctx: AppContext,
    conn: AsyncConnection,
    agent_id: str,
    parsed: ParsedMessage,
    inspection: Inspection,
) -> Placement:
    """The copy for ``agent_id``: spam verdict first, then the agent's rules."""
    return Placement()


async def after_store(
    ctx: AppContext,
    conn: AsyncConnection,
    copy: StoredCopy,
    placement: Placement,
    inspection: Inspection,
) -> None:
    """Records that need the stored copy's row id (tags, scan results)."""
