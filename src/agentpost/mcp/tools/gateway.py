"""Gateway tools: connect a relay account, its status and a test send, import relay mail, and
the setup guides. setup_email_domain, purchase_domain and setup_payment exist with the
reference's parameters and answer with the server's "not configured yet" and what to do."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from agentpost.client.gateway import RelayAccount
from agentpost.mcp.registry import NoArgs, ToolArgs, ToolContext, tool
from agentpost.mcp.tools.accounts import Role


class SetupEmailRelayArgs(ToolArgs):
    provider: Literal["gmail", "outlook", "custom"] = Field(
        description="gmail, outlook or custom (custom needs smtpHost and imapHost)."
    )
    email: str = Field(min_length=3, description="The account's own address, e.g. you@gmail.com.")
    password: str = Field(
        min_length=1, description="The account password; for Gmail/Outlook an app password."
    )
    smtp_host: str | None = Field(default=None, description="SMTP host (preset for gmail/outlook).")
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="SMTP port.")
    imap_host: str | None = Field(default=None, description="IMAP host (preset for gmail/outlook).")
    imap_port: int | None = Field(default=None, ge=1, le=65535, description="IMAP port.")
    agent_name: str | None = Field(
        default=None, description='Default agent for unroutable mail (default "secretary").'
    )
    agent_role: Role | None = Field(default=None, description="Role if the agent is created.")
    skip_default_agent: bool | None = Field(
        default=None, description="Do not create or set a default agent."
    )


class PurchaseArgs(ToolArgs):
    keywords: list[str] = Field(min_length=1, description="Words to build domain names from.")
    tld: str | None = Field(default=None, description='Top-level domain, e.g. ".com".')


class GmailRelayArgs(ToolArgs):
    email: str
    app_password: str


class SetupEmailDomainArgs(ToolArgs):
    cloudflare_token: str = Field(min_length=1, description="Cloudflare API token.")
    cloudflare_account_id: str = Field(min_length=1, description="Cloudflare account id.")
    domain: str | None = Field(default=None, description="The domain to use.")
    purchase: PurchaseArgs | None = Field(default=None, description="Buy a domain instead.")
    gmail_relay: GmailRelayArgs | None = Field(default=None, description="Outbound via Gmail.")


class SetupGmailAliasArgs(ToolArgs):
    agent_email: str = Field(
        min_length=1, description="The agent's relay address (you+agent@gmail.com) or its name."
    )
    agent_display_name: str | None = Field(default=None, description="Name shown as sender.")


class SendTestEmailArgs(ToolArgs):
    to: str = Field(min_length=3, description="An outside address to send the test to.")


class ImportRelayEmailArgs(ToolArgs):
    uid: int = Field(ge=1, description="Relay UID from search_emails with searchRelay.")


def _account_lines(relay: RelayAccount) -> list[str]:
    lines = [
        f"  Account: {relay.email} ({relay.provider}), mailbox {relay.mailbox}",
        f"  Status: {relay.status}",
        f"  Last sync: {relay.last_sync_at.isoformat() if relay.last_sync_at else 'not yet'}",
        f"  Imported: {relay.imported_count} message(s)",
        f"  Default agent: {relay.default_agent or 'none'}",
    ]
    if relay.last_error:
        lines.append(f"  Last error: {relay.last_error}")
    return lines


@tool(SetupEmailRelayArgs, master_key=True)
async def setup_email_relay(ctx: ToolContext, args: SetupEmailRelayArgs) -> str:
    """Connect an existing Gmail, Outlook or custom mail account: agents send through it as
    you+agent@… and replies are fetched over IMAP and routed to them. Both logins are checked
    before anything is saved (needs the master key or an owner key)."""
    fields = args.model_dump(by_alias=True, exclude_none=True)
    result = await ctx.admin_or_agent.setup_relay(**fields)
    lines = [f"Relay connected: {result.email} ({result.provider})", *_account_lines(result.relay)]
    if result.agent is not None:
        lines.append(f"  Default agent: {result.agent.name}, sends as {result.agent.sub_address}")
        if result.agent.api_key:
            lines.append(f"  New agent API key (shown once): {result.agent.api_key}")
    lines.append("Agents send as <local>+<agent>@<domain>; replies come back to them.")
    return "\n".join(lines)


@tool(SetupEmailDomainArgs, master_key=True)
async def setup_email_domain(ctx: ToolContext, args: SetupEmailDomainArgs) -> str:
    """Set up a custom domain through Cloudflare (not configured yet on this server: the answer
    says what to do instead)."""
    await ctx.admin_or_agent.setup_domain(**args.model_dump(by_alias=True, exclude_none=True))
    return "Domain set up."


@tool(NoArgs, master_key=True, read_only=True)
async def setup_guide(ctx: ToolContext, args: NoArgs) -> str:
    """How agents on this server can get email: the modes, what each needs, how to set it up."""
    guide = await ctx.admin_or_agent.setup_guide()
    lines = ["Email setup options:"]
    for mode in guide.get("modes", []):
        lines.append(f"- {mode['mode']} ({mode.get('status', '')}): {mode['description']}")
        if mode.get("fromAddress"):
            lines.append(f"    From: {mode['fromAddress']}")
        for need in mode.get("requirements", []):
            lines.append(f"    Needs: {need}")
        setup = mode.get("setup")
        if setup:
            lines.append(f"    Set up with {setup['tool']} {json.dumps(setup['params'])}")
    return "\n".join(lines)


@tool(SetupGmailAliasArgs, master_key=True, read_only=True)
async def setup_gmail_alias(ctx: ToolContext, args: SetupGmailAliasArgs) -> str:
    """The steps to add an agent's you+agent@gmail.com address to Gmail's "Send mail as", so
    Gmail keeps it as the From of what the agent sends."""
    answer = await ctx.admin_or_agent.gmail_alias(args.agent_email, args.agent_display_name)
    instructions: dict[str, Any] = answer["instructions"]
    lines = [instructions["summary"], f"Settings: {instructions['gmailSettingsUrl']}"]
    for step in instructions["steps"]:
        line = f"{step['step']}. {step['action']}"
        if step.get("fields"):
            line += " " + ", ".join(f"{k}: {v}" for k, v in step["fields"].items())
        lines.append(line)
    if instructions.get("note"):
        lines.append(f"Note: {instructions['note']}")
    return "\n".join(lines)


@tool(NoArgs, master_key=True, read_only=True)
async def setup_payment(ctx: ToolContext, args: NoArgs) -> str:
    """Payment setup for buying domains (not configured yet on this server: the answer says
    what to do instead)."""
    await ctx.admin_or_agent.payment_setup()
    return "Payment set up."


@tool(PurchaseArgs, master_key=True)
async def purchase_domain(ctx: ToolContext, args: PurchaseArgs) -> str:
    """Search and buy a domain (not configured yet on this server: the answer says what to do
    instead)."""
    await ctx.admin_or_agent.purchase_domain(args.keywords, args.tld)
    return "Domain search done."


@tool(NoArgs, master_key=True, read_only=True)
async def check_gateway_status(ctx: ToolContext, args: NoArgs) -> str:
    """The gateway mode and the relay account's health: last sync, last error, imports."""
    status = await ctx.admin_or_agent.gateway_status()
    if status.relay is None:
        return "Gateway mode: none (agents have local mailboxes only; see setup_guide)."
    health = "healthy" if status.healthy else "NOT healthy"
    return "\n".join([f"Gateway mode: relay ({health})", *_account_lines(status.relay)])


@tool(SendTestEmailArgs, master_key=True)
async def send_test_email(ctx: ToolContext, args: SendTestEmailArgs) -> str:
    """Send a test message through the relay account (as its default agent) to an outside
    address."""
    result = await ctx.admin_or_agent.gateway_test(args.to)
    return (
        f"Test email {result.status}: from {result.sender} to {args.to}\n"
        f"  Message-ID: {result.message_id} (UID {result.uid} in {result.agent}'s Sent)"
    )


@tool(ImportRelayEmailArgs)
async def import_relay_email(ctx: ToolContext, args: ImportRelayEmailArgs) -> str:
    """Import one message from the connected relay account into your inbox, by the relay UID
    search_emails (searchRelay) showed."""
    result = await ctx.client.relay_import(args.uid)
    return f"{result.message} Use read_email with uid {result.uid} to read it."


TOOLS = (
    import_relay_email,
    setup_email_relay,
    setup_email_domain,
    setup_guide,
    setup_gmail_alias,
    setup_payment,
    purchase_domain,
    check_gateway_status,
    send_test_email,
)
