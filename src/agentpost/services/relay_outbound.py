"""Outbound through a relay account: agents send as ``user+agent@provider-domain``.

When a send with external recipients goes out through the SMTP configuration of the owner's
relay account, its From and Reply-To become the agent's sub-address on that account, so the
provider accepts the sender (it is the account's own address) and replies come back to the
account's INBOX still naming the agent (services/relay_sync.py routes them). The rewrite
happens inside the send's transaction, after the permissions chose the configuration and
before anything is stored, so the Sent copy holds exactly the bytes that go out.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain import relay as rules
from agentpost.domain.addresses import Address
from agentpost.domain.mime import ParsedMessage
from agentpost.services.context import AppContext
from agentpost.services.smtp_configs import default_config_id
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import relay as repo
from agentpost.storage.repositories.relay import RelayAccountRecord

Accounts = dict[str, RelayAccountRecord | None]  # owner id → relay account, if any


def _display_name(agent: AgentRecord) -> str:
    configured = agent.metadata.get("displayName")
    return configured if isinstance(configured, str) and configured.strip() else agent.name


async def relay_sender(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    config_id: str | None,
    envelope: list[Address],
    message: tuple[bytes, ParsedMessage],
    accounts: Accounts | None = None,
) -> tuple[bytes, ParsedMessage]:
    """``message`` as it must go out: rewritten when it leaves through the relay account.
    ``accounts``: the relay accounts a group of sends in one transaction has read, by owner."""
    raw, parsed = message
    if all(rcpt.domain == ctx.settings.domain for rcpt in envelope):
        return raw, parsed  # local only: no relay involved
    accounts = {} if accounts is None else accounts
    if agent.owner_id not in accounts:
        accounts[agent.owner_id] = await repo.account_by_owner(conn, agent.owner_id)
    account = accounts[agent.owner_id]
    if account is None or account.smtp_config_id is None:
        return raw, parsed
    chosen = config_id or await default_config_id(conn, agent.owner_id)
    if chosen != account.smtp_config_id:
        return raw, parsed
    name = _display_name(agent)
    value = rules.sender_header(account.email, agent.name, name)
    address = Address(address=rules.sub_address(account.email, agent.name), name=name)
    rewritten = rules.replace_sender(raw, value, value)
    return rewritten, replace(parsed, from_addr=address, reply_to=[address])
