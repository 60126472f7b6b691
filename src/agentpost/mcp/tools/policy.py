"""get_send_budget: what the agent may still send, per SMTP configuration and window."""

from __future__ import annotations

from agentpost.client.policy import BudgetConfiguration, BudgetWindow, SendBudget
from agentpost.mcp import format as fmt
from agentpost.mcp.registry import NoArgs, ToolContext, tool

_POLICY = {
    "default": "no permissions assigned: your owner's default configuration, server limits",
    "assigned": "permissions assigned by your owner",
}


def _window(window: BudgetWindow) -> str:
    if window.limit is None:
        line = f"    {window.name}: {window.used} sent, no limit"
    else:
        line = f"    {window.name}: {window.used} of {window.limit} used, {window.remaining} left"
    if window.resets_at is not None and window.limit is not None:
        line += f" (a slot frees at {fmt.iso(window.resets_at)})"
    return line


def _configuration(item: BudgetConfiguration) -> list[str]:
    name = item.config_id or "none yet (external mail waits queued until your owner adds one)"
    flags = [f for f, on in (("default", item.is_default), ("inactive", not item.active)) if on]
    flags += [] if item.can_send else ["sending off"]
    lines = [f"  Configuration {name}" + (f" ({', '.join(flags)})" if flags else "") + ":"]
    lines += [_window(w) for w in item.windows]
    allowed = ", ".join(item.allowed_recipients) or "anyone"
    lines.append(f"    allowed recipients: {allowed}")
    return lines


def budget_text(budget: SendBudget) -> str:
    if not budget.can_send:
        return "You may not send mail: your owner turned sending off for you."
    lines = [
        f"Send budget ({_POLICY.get(budget.policy, budget.policy)}).",
        f"Mail to other agents on this server: {budget.local_recipients}.",
        "External mail:",
    ]
    for item in budget.configurations:
        lines += _configuration(item)
    return "\n".join(lines)


@tool(NoArgs, read_only=True)
async def get_send_budget(ctx: ToolContext, args: NoArgs) -> str:
    """Show how much external mail you may still send: per SMTP configuration, the hourly and
    daily limits, what is used, when a slot frees, and which recipients are allowed."""
    return budget_text(await ctx.client.send_budget())


TOOLS = (get_send_budget,)
