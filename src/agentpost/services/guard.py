"""The outbound guard: what a message would leak, and whether it may leave.

``scan`` runs before the send's write transaction and off the event loop (pure content
checks); ``decide`` runs inside it, where the recipients' classes (the owner, other agents,
contacts, strangers) and the agent's policy are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address
from agentpost.domain.mime import ParsedMessage
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord


@dataclass(frozen=True, slots=True)
class Findings:
    """What the content rules matched (never the matched text itself)."""

    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["allow", "warn", "hold"] = "allow"
    warnings: tuple[str, ...] = field(default_factory=tuple)


def scan(raw: bytes, parsed: ParsedMessage) -> Findings:
    """Content rules over subject, bodies and attachments. CPU-bound: call it in a thread."""
    return Findings()


async def decide(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    findings: Findings,
    envelope: list[Address],
) -> Verdict:
    """Allow, warn or hold, by the findings and who the recipients are."""
    return Verdict()
