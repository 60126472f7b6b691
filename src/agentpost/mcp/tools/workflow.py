"""Workflow tools: tags, delivery rules and messages between agents (tasks are in tasks.py).
check_messages also passes on the follow-up reminders of the agent's held mail that fell due.

Names, actions and parameters are the reference's; answers are short text an agent can act
on, with full ids (an id cut short could not be passed back).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from agentpost.client.pending import PendingReminder
from agentpost.mcp import format as fmt
from agentpost.mcp.registry import NoArgs, ToolArgs, ToolContext, ToolFailure, tool

CHECK_LIMIT = 10
TagAction = Literal[
    "list", "create", "delete", "tag_message", "untag_message", "get_messages", "get_message_tags"
]


class ManageTagsArgs(ToolArgs):
    action: TagAction = Field(description="What to do.")
    name: str | None = Field(default=None, max_length=64, description='Tag name (for "create").')
    color: str | None = Field(default=None, description='Hex colour like #ff8800 ("create").')
    id: str | None = Field(
        default=None,
        description='Tag id (for "delete", "tag_message", "untag_message", "get_messages").',
    )
    uid: int | None = Field(
        default=None,
        ge=1,
        description='Message UID (for "tag_message", "untag_message", "get_message_tags").',
    )
    folder: str | None = Field(
        default=None, min_length=1, description='Folder of the message (default "INBOX").'
    )


class ManageRulesArgs(ToolArgs):
    action: Literal["list", "create", "delete"] = Field(description="What to do.")
    id: str | None = Field(default=None, description='Rule id (for "delete").')
    name: str | None = Field(default=None, max_length=128, description='Rule name ("create").')
    priority: int | None = Field(
        default=None, description="Higher runs first (default 0); the first match wins."
    )
    conditions: dict[str, Any] | None = Field(
        default=None,
        description=(
            "All must hold: from_contains, subject_contains, subject_regex, to_contains "
            "(strings), has_attachment (boolean). Empty matches every message."
        ),
    )
    actions: dict[str, Any] | None = Field(
        default=None,
        description=(
            'For "create": move_to (folder), mark_read (true), delete (true: to Trash), '
            "add_tags (list of tag names)."
        ),
    )


class MessageAgentArgs(ToolArgs):
    agent: str = Field(min_length=1, description="Name of the agent to write to.")
    subject: str = Field(min_length=1, description="Subject of the message.")
    text: str = Field(description="The message.")
    priority: Literal["normal", "high", "urgent"] = Field(
        default="normal", description="high and urgent are shown in the subject."
    )


def _need(value: Any, what: str, action: str) -> Any:
    if value is None:
        raise ToolFailure(f'{what} is required for action "{action}"')
    return value


@tool(ManageTagsArgs)
async def manage_tags(ctx: ToolContext, args: ManageTagsArgs) -> str:
    """Manage your tags (labels for messages): list, create, delete, tag_message,
    untag_message, get_messages (messages with a tag), get_message_tags (tags of a message)."""
    client, action = ctx.client, args.action
    if action == "list":
        return _tag_lines(await client.tags(), "No tags.")
    if action == "create":
        tag = await client.create_tag(_need(args.name, "name", action), color=args.color)
        return f'Tag "{tag.name}" created ({tag.color}). ID: {tag.id}'
    if action == "get_message_tags":
        uid = _need(args.uid, "uid", action)
        return _tag_lines(
            await client.message_tags(uid, folder=args.folder), "No tags on this message."
        )
    tag_id = _need(args.id, "id", action)
    if action == "delete":
        await client.delete_tag(tag_id)
        return "Tag deleted."
    if action == "get_messages":
        return _tagged(await client.tag_messages(tag_id))
    uid = _need(args.uid, "uid", action)
    folder = args.folder or "INBOX"
    if action == "tag_message":
        await client.tag_message(tag_id, uid, folder=folder)
        return f"Tagged message UID {uid} in {folder} with tag {tag_id}."
    removed = await client.untag_message(tag_id, uid, folder=folder)
    if not removed:
        return f"Message UID {uid} in {folder} did not carry tag {tag_id}; nothing changed."
    return f"Removed tag from message UID {uid} in {folder}."


def _tag_lines(tags: list[Any], empty: str) -> str:
    if not tags:
        return empty
    return "\n".join(f"[{tag.id}] {tag.name} ({tag.color})" for tag in tags)


def _tagged(page: Any) -> str:
    if not page.messages:
        return f'No messages with tag "{page.tag.name}".'
    lines = [f'Tag "{page.tag.name}" — {page.total} messages:']
    lines += [
        f"  UID {m.uid} ({m.folder}) From: {m.from_} | Subject: {fmt.one_line(m.subject)}"
        for m in page.messages
    ]
    if page.total > len(page.messages):
        lines.append(f"  ({page.total - len(page.messages)} more not shown)")
    return "\n".join(lines)


@tool(ManageRulesArgs)
async def manage_rules(ctx: ToolContext, args: ManageRulesArgs) -> str:
    """Manage your email rules, applied to every message as it is delivered: list, create
    (name, conditions, actions, priority), delete (id). A bad regex is refused."""
    client, action = ctx.client, args.action
    if action == "list":
        rules = await client.rules()
        if not rules:
            return "No email rules configured."
        return "\n".join(
            f"[{r.id}] {r.name} (priority: {r.priority}, enabled: {str(r.enabled).lower()})\n"
            f"  Conditions: {json.dumps(r.conditions)}\n  Actions: {json.dumps(r.actions)}"
            for r in rules
        )
    if action == "create":
        rule = await client.create_rule(
            _need(args.name, "name", action),
            actions=_need(args.actions, "actions", action),
            conditions=args.conditions,
            priority=args.priority,
        )
        return f'Rule "{rule.name}" created. ID: {rule.id}'
    await client.delete_rule(_need(args.id, "id", action))
    return "Rule deleted."


@tool(MessageAgentArgs)
async def message_agent(ctx: ToolContext, args: MessageAgentArgs) -> str:
    """Send a message to another agent on this server by name (list_agents shows them);
    priority high or urgent marks the subject."""
    sent = await ctx.client.message_agent(
        args.agent, args.subject, args.text, priority=args.priority
    )
    return f"Message sent to {sent.to}. Message ID: {sent.sent.message_id}"


def held_mail_reminder(note: PendingReminder) -> str:
    """One reminder as a block the agent can act on (also used by wait_for_email)."""
    upcoming = fmt.iso(note.next_reminder_at) if note.next_reminder_at else "none"
    return (
        f"Reminder ({note.label}): your message to {', '.join(note.to)} about "
        f"'{fmt.one_line(note.subject)}' has been waiting for your owner's approval since "
        f"{fmt.iso(note.created_at)}. Remind your owner to approve or reject it; you cannot "
        f"do either yourself. Pending ID: {note.pending_id}. Next reminder: {upcoming}."
    )


# Not read_only: it hands out the due held-mail reminders, once each (a second call does not
# repeat them), so a host may not treat it as free of effects. It removes nothing.
@tool(NoArgs)
async def check_messages(ctx: ToolContext, args: NoArgs) -> str:
    """Summarise your unread messages, each marked [agent] (from an agent on this server)
    or [external], and remind you of your held mail still waiting for your owner. Does not
    mark anything read."""
    check = await ctx.client.check_messages(limit=CHECK_LIMIT)
    if not check.messages:
        lines = ["No unread messages."]
    else:
        lines = [f"{check.total} unread message(s):"]
        lines += [
            f'  [{m.source}] UID {m.uid}: from {m.from_} — "{fmt.one_line(m.subject)}"'
            for m in check.messages
        ]
        if check.total > len(check.messages):
            lines.append(f"  ({check.total - len(check.messages)} more not shown)")
    return "\n\n".join(["\n".join(lines), *(held_mail_reminder(r) for r in check.reminders)])


TOOLS = (manage_tags, manage_rules, message_agent, check_messages)
