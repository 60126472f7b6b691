"""The gateway: connect an owner's existing mail account (relay), its status and a test send,
relay search and import for agents, and the setup guides. The custom-domain and payment routes
answer 501 ``not_configured`` with what to do instead."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from agentpost.api.deps import AdminOrOwnerDep, AgentDep, CtxDep, PrincipalDep
from agentpost.api.gateway_schemas import (
    DomainCreate,
    DomainPurchaseCreate,
    GatewayStatusPublic,
    GatewayTestCreate,
    GatewayTestPublic,
    GmailAliasCreate,
    RelayAccountPublic,
    RelayAgentPublic,
    RelayCreate,
    RelayHitPublic,
    RelayImportCreate,
    RelayImportPublic,
    RelaySearchPublic,
    RelaySetupPublic,
)
from agentpost.api.schemas import AddressPublic, OkPublic
from agentpost.domain import relay as rules
from agentpost.services import relay, relay_search, relay_tools
from agentpost.services.relay_plan import RelaySetup
from agentpost.services.relay_search import RelayHit, RelayQuery
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories.relay import RelayAccountRecord

router = APIRouter(prefix="/gateway", tags=["gateway"])
# The reference's spelling of the relay import, for clients written against it.
mail_router = APIRouter(prefix="/mail", tags=["gateway"])


def account_of(account: RelayAccountRecord, default_agent: str | None) -> RelayAccountPublic:
    return RelayAccountPublic(
        provider=account.provider,
        email=account.email,
        status=account.status,
        last_error=account.last_error,
        last_sync_at=account.last_sync_at,
        mailbox=account.mailbox,
        imap_host=account.imap_host,
        imap_port=account.imap_port,
        smtp_config_id=account.smtp_config_id,
        default_agent=default_agent,
        imported_count=account.imported_count,
        polling=account.status == "active",
    )


def _agent_of(email: str, agent: AgentRecord, key: str | None) -> RelayAgentPublic:
    return RelayAgentPublic(
        id=agent.id,
        name=agent.name,
        email=agent.address,
        role=agent.role,
        sub_address=rules.sub_address(email, agent.name),
        api_key=key,
    )


@router.post("/relay")
async def setup_relay(
    ctx: CtxDep, principal: AdminOrOwnerDep, body: RelayCreate
) -> RelaySetupPublic:
    """Connect an existing Gmail, Outlook or custom account. Both the IMAP and the SMTP login
    are checked before anything is saved; calling it again replaces the account."""
    setup = RelaySetup(
        provider=body.provider,
        email=body.email,
        password=body.password.get_secret_value(),
        smtp_host=body.smtp_host,
        smtp_port=body.smtp_port,
        smtp_security=body.smtp_security,
        imap_host=body.imap_host,
        imap_port=body.imap_port,
        imap_security=body.imap_security,
        username=body.username,
        mailbox=body.mailbox,
        agent_name=body.agent_name,
        agent_role=body.agent_role,
        skip_default_agent=body.skip_default_agent,
    )
    result = await relay.setup_relay(ctx, principal, setup)
    account = result.account
    agent = result.agent
    return RelaySetupPublic(
        email=account.email,
        provider=account.provider,
        relay=account_of(account, agent.name if agent else None),
        agent=_agent_of(account.email, agent, result.api_key) if agent else None,
    )


@router.get("/relay")
async def show_relay(ctx: CtxDep, principal: AdminOrOwnerDep) -> RelayAccountPublic:
    """The connected relay account (never its password)."""
    status = await relay_tools.gateway_status(ctx, principal)
    if status.account is None:
        await relay.get_account(ctx, principal.owner_id)  # raises relay_not_configured
    assert status.account is not None
    return account_of(status.account, status.default_agent.name if status.default_agent else None)


@router.delete("/relay")
async def remove_relay(ctx: CtxDep, principal: AdminOrOwnerDep) -> OkPublic:
    """Disconnect the relay account; its SMTP configuration is deactivated."""
    await relay.remove_relay(ctx, principal)
    return OkPublic(ok=True)


@router.get("/status")
async def gateway_status(ctx: CtxDep, principal: AdminOrOwnerDep) -> GatewayStatusPublic:
    """The gateway mode, and the relay account's state: last sync, last error, imports."""
    status = await relay_tools.gateway_status(ctx, principal)
    if status.account is None:
        return GatewayStatusPublic(mode="none", healthy=True)
    name = status.default_agent.name if status.default_agent else None
    return GatewayStatusPublic(
        mode="relay", healthy=status.healthy, relay=account_of(status.account, name)
    )


@router.post("/test")
async def send_test(
    ctx: CtxDep, principal: AdminOrOwnerDep, body: GatewayTestCreate
) -> GatewayTestPublic:
    """Send a test message through the relay account as its default agent."""
    result, sender = await relay_tools.send_test(ctx, principal, body.to)
    return GatewayTestPublic(
        status=result.status,
        message_id=result.message_id,
        uid=result.uid,
        sender=sender,
        agent=result.sender,
    )


def _hit_of(hit: RelayHit) -> RelayHitPublic:
    def addresses(items: list[Any]) -> list[AddressPublic]:
        return [AddressPublic(name=a.name, address=a.address) for a in items]

    return RelayHitPublic(
        uid=hit.uid,
        account=hit.account,
        message_id=hit.message_id,
        subject=hit.subject,
        from_=addresses(hit.from_),
        to=addresses(hit.to),
        date=hit.date,
        flags=hit.flags,
        size=hit.size,
        agent=hit.agent,
        imported=hit.imported,
    )


@router.get("/relay/search")
async def search_relay(
    ctx: CtxDep,
    principal: PrincipalDep,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    subject: str | None = None,
    text: str | None = None,
    since: str | None = None,
    before: str | None = None,
    seen: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> RelaySearchPublic:
    """Search the relay account's mailbox. An agent sees the messages that route to it."""
    query = RelayQuery(from_, to, subject, text, since, before, seen, limit)
    hits = await relay_search.search_relay(ctx, principal, query)
    return RelaySearchPublic(relay_results=[_hit_of(h) for h in hits], count=len(hits))


@router.post("/relay/import")
@mail_router.post("/import-relay")
async def import_relay(ctx: CtxDep, agent: AgentDep, body: RelayImportCreate) -> RelayImportPublic:
    """Import one relay message (by relay UID) into the calling agent's mailbox, once."""
    done = await relay_search.import_relay(ctx, agent, body.uid)
    note = "was already in your mailbox" if done.already else "was imported"
    return RelayImportPublic(
        uid=done.uid,
        folder=done.folder,
        relay_uid=done.relay_uid,
        already_imported=done.already,
        message=f"Relay message {done.relay_uid} {note}: UID {done.uid} in {done.folder}.",
    )


@router.get("/setup-guide")
async def setup_guide(ctx: CtxDep, principal: AdminOrOwnerDep) -> dict[str, Any]:
    """The ways agents get email on this server, and how to set each up."""
    return await relay_tools.setup_guide(ctx, principal)


@router.post("/domain/alias-setup")
async def gmail_alias(
    ctx: CtxDep, principal: AdminOrOwnerDep, body: GmailAliasCreate
) -> dict[str, Any]:
    """The Gmail "Send mail as" steps for an agent's relay sub-address."""
    return await relay_tools.gmail_alias(ctx, principal, body.agent_email, body.agent_display_name)


@router.post("/domain")
async def setup_domain(principal: AdminOrOwnerDep, body: DomainCreate) -> dict[str, Any]:
    """Custom-domain setup: not configured yet on this server (501, with what to do)."""
    raise relay_tools.not_configured("domain")


@router.post("/domain/purchase")
async def purchase_domain(principal: AdminOrOwnerDep, body: DomainPurchaseCreate) -> dict[str, Any]:
    """Domain purchase: not configured yet on this server (501, with what to do)."""
    raise relay_tools.not_configured("purchase")


@router.get("/domain/payment-setup")
async def payment_setup(principal: AdminOrOwnerDep) -> dict[str, Any]:
    """Payment setup: not configured yet on this server (501, with what to do)."""
    raise relay_tools.not_configured("payment")
