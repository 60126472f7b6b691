"""Agent-to-agent messages: send to another agent by name, and read unread mail labelled by
whether it came from an agent on this server or from outside.

``check_messages`` also hands out the follow-up reminders of the agent's held mail that fell
due (services/pending.py claims each once), so an agent that only polls its mail still learns
that its owner has not decided yet.

A message to an agent is ordinary mail (it goes through the whole send path: permissions,
guard, delivery-time rules), addressed by the target's name instead of its address, with the
priority shown in the subject as the reference does (``[HIGH] `` / ``[URGENT] ``).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentpost.domain.folders import INBOX
from agentpost.errors import InvalidInput
from agentpost.services import accounts, mailbox, outbox, pending
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext
from agentpost.services.mailbox import SearchCriteria
from agentpost.services.outbox import SendRequest, SendResult
from agentpost.services.pending import ReminderNote
from agentpost.storage.records import AgentRecord, MessageRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.search import TextCriteria

PRIORITY_PREFIXES = {"normal": "", "high": "[HIGH] ", "urgent": "[URGENT] "}
CHECK_LIMIT = 10


@dataclass(frozen=True, slots=True)
class AgentMessageSent:
    target: AgentRecord
    result: SendResult


@dataclass(frozen=True, slots=True)
class UnreadMessage:
    message: MessageRecord
    from_agent: bool


@dataclass(frozen=True, slots=True)
class UnreadSummary:
    messages: list[UnreadMessage]
    total: int


@dataclass(frozen=True, slots=True)
class MessageCheck:
    """What check_messages reports: the unread summary and the reminders handed out now."""

    unread: UnreadSummary
    reminders: list[ReminderNote]


def prefixed_subject(subject: str, priority: str) -> str:
    if priority not in PRIORITY_PREFIXES:
        raise InvalidInput("priority must be normal, high or urgent", field="priority")
    prefix = PRIORITY_PREFIXES[priority]
    return subject if not prefix or subject.startswith(prefix) else prefix + subject


async def message_agent(
    ctx: AppContext,
    agent: AgentRecord,
    *,
    target: str,
    subject: str,
    text: str,
    priority: str = "normal",
) -> AgentMessageSent:
    """Send ``text`` to the agent named ``target`` (an agent of the same owner)."""
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidInput("subject is required", field="subject")
    full_subject = prefixed_subject(subject, priority)
    principal = Principal(PrincipalKind.agent, agent.owner_id, agent)
    recipient = await accounts.find_agent(ctx, principal, target)
    result = await outbox.submit_message(
        ctx, agent, SendRequest(to=recipient.address, subject=full_subject, text=text)
    )
    return AgentMessageSent(recipient, result)


async def unread_messages(
    ctx: AppContext, agent: AgentRecord, *, limit: int = CHECK_LIMIT
) -> UnreadSummary:
    """Unread INBOX mail, newest first, each marked as from an agent here or from outside.
    "From an agent" means the sender address is an agent mailbox on this server, not merely
    a local-looking domain (a From header alone can be forged; the mark is a hint)."""
    criteria = SearchCriteria(TextCriteria(), folder=INBOX, seen=False)
    found, total = await mailbox.search_messages(ctx, agent, criteria, limit=limit, offset=0)
    addresses = sorted({m.from_addr.lower() for m in found})
    async with ctx.db.read() as conn:
        agents = await account_repo.agents_by_addresses(conn, addresses)
    local = {a.address.lower() for a in agents}
    return UnreadSummary(
        [UnreadMessage(m, m.from_addr.lower() in local) for m in found], total=total
    )


async def check_messages(
    ctx: AppContext, agent: AgentRecord, *, limit: int = CHECK_LIMIT
) -> MessageCheck:
    """The unread summary plus the held-mail reminders due since they were last handed out
    (claimed here: the next check, a stream or the pending tools will not repeat them)."""
    unread = await unread_messages(ctx, agent, limit=limit)
    reminders = await pending.claim_agent_reminders(ctx, agent.id)
    return MessageCheck(unread, reminders)
