"""The gateway's owner tools: status, a test send through the relay, the setup guide, the Gmail
alias steps, and the custom-domain and payment tools that are not configured yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentpost.domain import gateway_guide
from agentpost.domain import relay as rules
from agentpost.domain.addresses import is_valid_address, normalize
from agentpost.errors import InvalidInput, NotConfigured, RelayNotConfigured
from agentpost.services import outbox, relay
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, SendResult
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import relay as repo
from agentpost.storage.repositories.relay import RelayAccountRecord

TEST_SUBJECT = "AgentPost gateway test"


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    mode: str  # none | relay
    healthy: bool
    account: RelayAccountRecord | None
    default_agent: AgentRecord | None


async def gateway_status(ctx: AppContext, principal: Principal) -> GatewayStatus:
    principal.require_admin_or_owner()
    async with ctx.db.read() as conn:
        account = await repo.account_by_owner(conn, principal.owner_id)
        agent = None
        if account is not None and account.default_agent_id:
            agent = await account_repo.agent_by_id(conn, account.default_agent_id)
    if account is None:
        return GatewayStatus("none", True, None, None)
    return GatewayStatus("relay", account.status == "active", account, agent)


async def send_test(ctx: AppContext, principal: Principal, to: str) -> tuple[SendResult, str]:
    """A short test message from the relay's default agent to ``to``; returns the send and
    the sub-address it goes out from."""
    principal.require_admin_or_owner()
    address = normalize(to or "")
    if not is_valid_address(address):
        raise InvalidInput("to must be an email address", field="to")
    if address.rpartition("@")[2] == ctx.settings.domain:
        raise InvalidInput(
            "to is an agent on this server: a gateway test must go to an outside address",
            field="to",
        )
    status = await gateway_status(ctx, principal)
    if status.account is None:
        raise RelayNotConfigured(
            "no relay account is connected: set one up with setup_email_relay first"
        )
    if status.default_agent is None:
        raise InvalidInput(
            "the relay account has no default agent to send the test as: run "
            "setup_email_relay again with agentName",
            field="to",
        )
    agent = status.default_agent
    text = (
        f"This is a test from AgentPost through the relay account {status.account.email}.\n"
        f"Replies to it go to the agent {agent.name}."
    )
    request = SendRequest(to=address, subject=TEST_SUBJECT, text=text, signature=False)
    result = await outbox.submit_message(ctx, agent, request)
    return result, rules.sub_address(status.account.email, agent.name)


async def setup_guide(ctx: AppContext, principal: Principal) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        account = await repo.account_by_owner(conn, principal.owner_id)
    return gateway_guide.setup_guide(ctx.settings.domain, account.email if account else None)


async def gmail_alias(
    ctx: AppContext, principal: Principal, agent_email: str, display_name: str | None
) -> dict[str, Any]:
    """Steps for a "Send mail as" alias; ``agent_email`` may be an agent name."""
    principal.require_admin_or_owner()
    account = await relay.get_account(ctx, principal.owner_id)
    value = (agent_email or "").strip()
    if not value:
        raise InvalidInput(
            "agentEmail is required: an agent name or its relay address", field="agentEmail"
        )
    address = value.lower() if "@" in value else rules.sub_address(account.email, value)
    if rules.tag_of(account.email, address) is None:
        raise InvalidInput(
            f"agentEmail must be a sub-address of the relay account, such as "
            f"{rules.sub_address(account.email, 'agent')}",
            field="agentEmail",
        )
    name = display_name or rules.tag_of(account.email, address) or value
    steps = gateway_guide.gmail_alias_steps(address, name, account.email)
    if account.provider != rules.Provider.GMAIL.value:
        steps["note"] = (
            f"The relay account is a {account.provider} account: these are Gmail's steps; "
            "most providers accept sub-addresses of your own account without any setup."
        )
    return {"status": "ok", "instructions": steps, "agentEmail": address}


def not_configured(feature: str) -> NotConfigured:
    """The answer of setup_email_domain, purchase_domain and setup_payment."""
    return NotConfigured(gateway_guide.NOT_CONFIGURED[feature])
