"""Account tools: who am I, metadata, the agent directory, health, and (with the master key)
the account lifecycle: creating and deleting agents (with an archive and a deletion report),
deletion reports, and cleaning up inactive agents."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from agentpost.client.policy import DeletionReport
from agentpost.mcp import format as fmt
from agentpost.mcp.registry import NoArgs, ToolArgs, ToolContext, ToolFailure, tool

Role = Literal["secretary", "assistant", "researcher", "writer", "custom"]
REPORT_EMAILS = 20


class UpdateMetadataArgs(ToolArgs):
    metadata: dict[str, Any] = Field(
        description="Keys to set on your metadata (merged); a null value removes that key."
    )


class CreateAccountArgs(ToolArgs):
    name: str = Field(min_length=1, description="Agent name; its address is name@domain.")
    domain: str | None = Field(default=None, description="Mail domain (default: the server's).")
    role: Role | None = Field(default=None, description="Agent role (default secretary).")


class DeleteAgentArgs(ToolArgs):
    name: str = Field(min_length=1, description="Name (or id) of the agent to delete.")
    reason: str | None = Field(default=None, description="Why; repeated in the answer.")


@tool(NoArgs, read_only=True)
async def check_health(ctx: ToolContext, args: NoArgs) -> str:
    """Check that the AgentPost server and its database are up."""
    health = await ctx.client.health()
    lines = [f"AgentPost server: {health.status} (version {health.version or 'unknown'})"]
    lines += [f"  {name}: {state}" for name, state in sorted(health.services.items())]
    return "\n".join(lines)


@tool(NoArgs, read_only=True)
async def whoami(ctx: ToolContext, args: NoArgs) -> str:
    """Show your agent account: name, address, role, id and metadata."""
    return fmt.agent(await ctx.client.me())


@tool(UpdateMetadataArgs)
async def update_metadata(ctx: ToolContext, args: UpdateMetadataArgs) -> str:
    """Merge keys into your account metadata (a null value removes a key)."""
    agent = await ctx.client.update_me(args.metadata)
    current = json.dumps(agent.metadata, ensure_ascii=False, sort_keys=True)
    return f"Metadata updated successfully. Agent: {agent.name}\nMetadata: {current}"


@tool(NoArgs, read_only=True)
async def list_agents(ctx: ToolContext, args: NoArgs) -> str:
    """List the agents on this server you can email, with their addresses and roles."""
    entries = await ctx.client.directory()
    if not entries:
        return "No agents found."
    lines = ["Agents in the system:"]
    lines += [f"  {e.name} ({e.email}) — {e.role}" for e in entries]
    return "\n".join(lines)


@tool(CreateAccountArgs, master_key=True)
async def create_account(ctx: ToolContext, args: CreateAccountArgs) -> str:
    """Create a new agent with its own mailbox and API key (needs the master key)."""
    agent = await ctx.admin_or_agent.create_account(args.name, role=args.role, domain=args.domain)
    return "\n".join(
        [
            "Account created successfully!",
            f"  Name: {agent.name}",
            f"  Email: {agent.email}",
            f"  Role: {agent.role}",
            f"  API Key: {agent.api_key}",
            f"  ID: {agent.id}",
            "The API key is shown only once: store it now.",
        ]
    )


@tool(DeleteAgentArgs, master_key=True, destructive=True)
async def delete_agent(ctx: ToolContext, args: DeleteAgentArgs) -> str:
    """Delete an agent (needs the master key or its owner's key). Its mailbox is archived
    under a deletion report first; deletion_reports shows it."""
    result = await ctx.admin_or_agent.delete_agent(
        args.name, reason=args.reason, deleted_by="mcp-tool"
    )
    lines = [
        f'Agent "{result.name}" deleted successfully.',
        f"  Email: {result.email}",
        f"  Deletion ID: {result.deletion_id}",
        f"  Emails archived: {result.emails_archived}",
        f"  Deleted at: {fmt.iso(result.deleted_at)}",
    ]
    if result.top_correspondents:
        lines.append(f"  Top correspondents: {', '.join(result.top_correspondents)}")
    if args.reason:
        lines.append(f"  Reason: {fmt.one_line(args.reason)}")
    return "\n".join(lines)


class DeletionReportsArgs(ToolArgs):
    id: str | None = Field(default=None, description="A report id; omit to list all reports.")


def _report_lines(report: DeletionReport) -> list[str]:
    folders = dict(report.folders)
    inbox, sent = folders.pop("INBOX", 0), folders.pop("Sent", 0)
    lines = [
        f"Deletion Report: {report.id}",
        f"  Agent: {report.agent_name} ({report.agent_email})",
        f"  Role: {report.agent_role}",
        f"  Deleted: {fmt.iso(report.deleted_at)}",
        f"  By: {report.deleted_by}",
    ]
    if report.reason:
        lines.append(f"  Reason: {fmt.one_line(report.reason)}")
    lines += [
        f"  Total emails: {report.total_emails}",
        f"  Inbox: {inbox}, Sent: {sent}, Other: {sum(folders.values())}",
    ]
    if report.first_date and report.last_date:
        lines.append(f"  Date range: {fmt.iso(report.first_date)} → {fmt.iso(report.last_date)}")
    if report.top_correspondents:
        top = ", ".join(f"{c.address} ({c.count})" for c in report.top_correspondents)
        lines.append(f"  Top correspondents: {top}")
    return lines


@tool(DeletionReportsArgs, master_key=True, read_only=True)
async def deletion_reports(ctx: ToolContext, args: DeletionReportsArgs) -> str:
    """List the reports of deleted agents, or show one by id: who deleted it, when, why,
    how much mail was archived and with whom it corresponded (needs the master key)."""
    client = ctx.admin_or_agent
    if args.id:
        report = await client.deletion_report(args.id)
        lines = _report_lines(report)
        lines += [
            f"  [{e.id}] {e.folder} UID {e.uid}: {fmt.one_line(e.subject)}"
            for e in report.emails[:REPORT_EMAILS]
        ]
        if len(report.emails) > REPORT_EMAILS:
            lines.append(f"  ({len(report.emails) - REPORT_EMAILS} more archived emails)")
        return "\n".join(lines)
    reports = await client.deletion_reports()
    if not reports:
        return "No deletion reports."
    lines = ["Deletion reports:"]
    lines += [
        f"  [{r.id}] {r.agent_name} ({r.agent_email}) — deleted {fmt.iso(r.deleted_at)}, "
        f"{r.total_emails} emails archived"
        for r in reports
    ]
    return "\n".join(lines)


class CleanupAgentsArgs(ToolArgs):
    action: Literal["list_inactive", "cleanup", "set_persistent"] = Field(
        description="list_inactive, cleanup (deletes with archive) or set_persistent."
    )
    hours: float | None = Field(
        default=None, ge=1, description="Idle for at least this many hours (default 24)."
    )
    dry_run: bool | None = Field(default=None, description="cleanup: only say who would go.")
    agent_id: str | None = Field(default=None, description="set_persistent: the agent's id.")
    persistent: bool | None = Field(default=None, description="set_persistent: the new flag.")


@tool(CleanupAgentsArgs, master_key=True, destructive=True)
async def cleanup_agents(ctx: ToolContext, args: CleanupAgentsArgs) -> str:
    """Find agents idle for some hours, delete them (each archived with a deletion report;
    dryRun only lists them), or mark an agent persistent so cleanup never removes it."""
    client = ctx.admin_or_agent
    if args.action == "set_persistent":
        if not args.agent_id or args.persistent is None:
            raise ToolFailure("set_persistent needs agentId and persistent")
        flag = await client.set_persistent(args.agent_id, args.persistent)
        return f"Agent {args.agent_id} persistent flag set to {str(flag.persistent).lower()}"
    if args.action == "list_inactive":
        idle = await client.inactive_agents(args.hours)
        if not idle:
            return "No inactive agents."
        lines = [f"{len(idle)} inactive agent(s):"]
        lines += [
            f"  {a.name} ({a.email}) — last active: "
            f"{fmt.iso(a.last_activity_at) if a.last_activity_at else 'never'}, "
            f"persistent: {int(a.persistent)}"
            for a in idle
        ]
        return "\n".join(lines)
    result = await client.cleanup_agents(hours=args.hours, dry_run=bool(args.dry_run))
    if not result.count:
        return "No inactive agents to clean up. Persistent agents are never removed."
    if result.dry_run:
        names = ", ".join(a.name for a in result.would_delete)
        return f"Would delete {result.count} agent(s): {names}"
    return f"Deleted {result.count} agent(s): {', '.join(result.deleted)}"


TOOLS = (
    check_health,
    whoami,
    update_metadata,
    list_agents,
    create_account,
    delete_agent,
    deletion_reports,
    cleanup_agents,
)
