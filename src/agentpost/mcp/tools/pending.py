"""manage_pending_emails: the agent's view of its mail held by the outbound guard.

Agents list and view their held messages; approve and reject are sent to the API with the
agent's own key (never the master key, even when one is configured), which refuses them with
``approval_requires_owner``: only the owner decides. Follow-up reminders that fell due (12 h,
then 6 h, 3 h and 1 h later, then a 3-day pause; domain/guard/reminders.py) are appended to
the answer of every call, each once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentpost.client.pending import PendingItem, PendingReminder
from agentpost.mcp import format as fmt
from agentpost.mcp.registry import ToolArgs, ToolContext, ToolFailure, tool


class ManagePendingArgs(ToolArgs):
    action: Literal["list", "get", "view", "approve", "reject"] = Field(
        description="list your held emails, get/view one; approve/reject are for your owner."
    )
    id: str | None = Field(
        default=None, min_length=1, max_length=36, description="The pending id (get/view)."
    )


def _line(position: int, item: PendingItem) -> str:
    reminder = fmt.iso(item.next_reminder_at) if item.next_reminder_at else "none"
    return (
        f"{position}. [{item.id}] To: {', '.join(item.to)} | Subject: {fmt.one_line(item.subject)}"
        f" | Status: {item.status} | Created: {fmt.iso(item.created_at)}"
        f" | Next reminder: {reminder}\n   Held for: {fmt.one_line(item.summary) or '-'}"
    )


def _detail(item: PendingItem) -> str:
    lines = [
        f"Pending Email: {item.id}",
        f"To: {', '.join(item.to)}",
        f"Subject: {fmt.one_line(item.subject)}",
        f"Status: {item.status}",
        f"Created: {fmt.iso(item.created_at)}",
        f"Expires: {fmt.iso(item.expires_at)}",
        "Warnings:",
    ]
    for finding in item.warnings:
        lines.append(
            f"  - [{finding.severity}] {finding.rule_id}: {finding.description} ({finding.where})"
        )
    if item.resolved_by:
        lines.append(f"Resolved by {item.resolved_by} at {fmt.iso(item.resolved_at)}.")
    elif item.owner_notice == "sent":
        lines.append("Your owner was sent an approval request by mail.")
    elif item.owner_notice is None:
        lines.append("Your owner was not notified by mail: tell them yourself.")
    return "\n".join(lines)


def _reminder(note: PendingReminder) -> str:
    upcoming = fmt.iso(note.next_reminder_at) if note.next_reminder_at else "none"
    return (
        f"[{note.label.upper()}] Your email to {', '.join(note.to)} "
        f'"{fmt.one_line(note.subject)}" is still waiting for your owner\'s approval since '
        f"{fmt.iso(note.created_at)}. Remind your owner. Next reminder: {upcoming}. "
        f"Pending ID: {note.pending_id}"
    )


@tool(ManagePendingArgs)
async def manage_pending_emails(ctx: ToolContext, args: ManagePendingArgs) -> str:
    """Your emails held by the outbound guard for your owner's approval. list shows them with
    their status and next reminder; get (or view) shows one with what was found. Only your
    owner can approve or reject: tell them what you tried to send and why it was held."""
    if args.action in ("approve", "reject"):
        if not args.id:
            raise ToolFailure(f"manage_pending_emails action={args.action} needs: id")
        # The agent's own key: the API refuses with approval_requires_owner.
        if args.action == "approve":
            await ctx.client.approve_pending(args.id)
        else:
            await ctx.client.reject_pending(args.id)
        raise ToolFailure("the API accepted an agent's approval: report this as a bug")
    if args.action in ("get", "view"):
        if not args.id:
            raise ToolFailure(f"manage_pending_emails action={args.action} needs: id")
        text = _detail(await ctx.client.get_pending(args.id))
    else:
        items = await ctx.client.list_pending()
        text = (
            f"Pending emails ({len(items)}):\n"
            + "\n".join(_line(n, item) for n, item in enumerate(items, start=1))
            if items
            else "No pending outbound emails."
        )
    reminders = await ctx.client.pending_reminders()
    return "\n\n".join([text, *(_reminder(r) for r in reminders)])


TOOLS = (manage_pending_emails,)
