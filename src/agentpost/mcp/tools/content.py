"""Content tools: contacts, drafts, signatures, templates, template sends and scheduled sends.

Names, actions and parameters follow the AgenticMail reference; each ``manage_*`` tool takes
an ``action`` and checks the fields that action needs before calling the API, so a missing
field is a clear tool error rather than a half-done call.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agentpost.mcp import format as fmt
from agentpost.mcp.registry import ToolArgs, ToolContext, ToolFailure, tool


def _id() -> Any:
    return Field(default=None, min_length=1, max_length=64, description="The item's id (list).")


def _signature() -> Any:
    return Field(
        default=None,
        description="Append your default signature (default true; false: leave it off).",
    )


def need(tool_name: str, action: str, args: ToolArgs, *names: str) -> None:
    """Refuse an action whose required fields are missing, naming all of them."""
    missing = [n for n in names if getattr(args, n) in (None, "")]
    if missing:
        fields = ", ".join(args.model_fields[n].alias or n for n in missing)
        raise ToolFailure(f"{tool_name} action={action} needs: {fields}")


class ManageContactsArgs(ToolArgs):
    action: Literal["list", "add", "delete"] = Field(description="What to do.")
    email: str | None = Field(default=None, max_length=320, description="Address (for add).")
    name: str | None = Field(default=None, max_length=200, description="Display name (add).")
    id: str | None = _id()


@tool(ManageContactsArgs)
async def manage_contacts(ctx: ToolContext, args: ManageContactsArgs) -> str:
    """Your address book. list shows contacts with their ids; add saves an address (adding a
    known address updates its name); delete removes one by id."""
    if args.action == "add":
        need("manage_contacts", "add", args, "email")
        saved = await ctx.client.add_contact(str(args.email), name=args.name)
        verb = "added" if saved.created is not False else "updated"
        return f"Contact {verb}: {saved.name or '(no name)'} <{saved.email}>. ID: {saved.id}"
    if args.action == "delete":
        need("manage_contacts", "delete", args, "id")
        await ctx.client.delete_contact(str(args.id))
        return "Contact deleted."
    found = await ctx.client.contacts()
    if not found:
        return "No contacts."
    return "\n".join(f"[{c.id}] {fmt.one_line(c.name) or '(no name)'} <{c.email}>" for c in found)


class ManageDraftsArgs(ToolArgs):
    action: Literal["list", "create", "update", "send", "delete"] = Field(description="What to do.")
    id: str | None = _id()
    to: str | None = Field(default=None, description="Recipients, separated by commas.")
    subject: str | None = Field(default=None, max_length=998, description="Subject line.")
    text: str | None = Field(default=None, description="Plain-text body.")
    html: str | None = Field(default=None, description="HTML body (optional).")
    cc: str | None = Field(default=None, description="Cc addresses, separated by commas.")
    bcc: str | None = Field(default=None, description="Bcc addresses, separated by commas.")
    signature: bool | None = _signature()


def _draft_fields(args: ManageDraftsArgs) -> dict[str, Any]:
    return {
        "to": args.to,
        "subject": args.subject,
        "text": args.text,
        "html": args.html,
        "cc": args.cc,
        "bcc": args.bcc,
    }


@tool(ManageDraftsArgs)
async def manage_drafts(ctx: ToolContext, args: ManageDraftsArgs) -> str:
    """Drafts you compose over several calls. create (to, subject, text), update (id and the
    fields to change), send (id: sent with every check send_email gets, then removed),
    delete (id), list."""
    if args.action == "create":
        need("manage_drafts", "create", args, "to", "subject")
        draft = await ctx.client.create_draft(**_draft_fields(args))
        return f"Draft created: {draft.id}"
    if args.action == "list":
        found = await ctx.client.drafts()
        if not found:
            return "No drafts."
        return "\n".join(
            f"[{d.id}] To: {fmt.one_line(d.to) or '?'} | Subject: {fmt.one_line(d.subject) or '?'}"
            for d in found
        )
    need("manage_drafts", args.action, args, "id")
    draft_id = str(args.id)
    if args.action == "update":
        if not any(v is not None for v in _draft_fields(args).values()):
            raise ToolFailure("manage_drafts action=update needs a field to change")
        await ctx.client.update_draft(draft_id, **_draft_fields(args))
        return f"Draft {draft_id} updated."
    if args.action == "send":
        result = await ctx.client.send_draft(draft_id, signature=args.signature)
        return fmt.send_result("Draft sent.", result)
    await ctx.client.delete_draft(draft_id)
    return "Draft deleted."


class ManageSignaturesArgs(ToolArgs):
    action: Literal["list", "create", "delete"] = Field(description="What to do.")
    id: str | None = _id()
    name: str | None = Field(default=None, max_length=200, description="Name (for create).")
    text: str | None = Field(default=None, max_length=10_000, description="Signature text.")
    html: str | None = Field(default=None, max_length=10_000, description="HTML version.")
    is_default: bool | None = Field(
        default=None, description="Make it the default, appended to everything you send."
    )


@tool(ManageSignaturesArgs)
async def manage_signatures(ctx: ToolContext, args: ManageSignaturesArgs) -> str:
    """Email signatures. The default one is appended to every message you send (unless a
    send says signature=false). create (name, text, isDefault; an existing name is
    replaced, so create also edits or sets the default), delete (id), list."""
    if args.action == "create":
        need("manage_signatures", "create", args, "name", "text")
        made = await ctx.client.create_signature(
            str(args.name), str(args.text), html=args.html, is_default=args.is_default
        )
        default = " It is your default signature." if made.is_default else ""
        return f'Signature "{made.name}" created. ID: {made.id}{default}'
    if args.action == "delete":
        need("manage_signatures", "delete", args, "id")
        await ctx.client.delete_signature(str(args.id))
        return "Signature deleted."
    found = await ctx.client.signatures()
    if not found:
        return "No signatures."
    return "\n".join(
        f"[{s.id}] {s.name}{' (default)' if s.is_default else ''}: {fmt.one_line(s.text)}"
        for s in found
    )


class ManageTemplatesArgs(ToolArgs):
    action: Literal["list", "create", "delete"] = Field(description="What to do.")
    id: str | None = _id()
    name: str | None = Field(default=None, max_length=200, description="Name (for create).")
    subject: str | None = Field(
        default=None, max_length=998, description="Subject; may use {{ variables }}."
    )
    text: str | None = Field(default=None, description="Body text; may use {{ variables }}.")
    html: str | None = Field(default=None, description="HTML body (optional).")


@tool(ManageTemplatesArgs)
async def manage_templates(ctx: ToolContext, args: ManageTemplatesArgs) -> str:
    """Reusable emails with {{ variable }} placeholders in subject and body. create (name,
    subject, text; an existing name is replaced), delete (id), list. Send one with
    template_send."""
    if args.action == "create":
        need("manage_templates", "create", args, "name", "subject", "text")
        made = await ctx.client.create_template(
            str(args.name), str(args.subject), str(args.text), html=args.html
        )
        needs = f" Variables: {', '.join(made.variables)}." if made.variables else ""
        return f'Template "{made.name}" created. ID: {made.id}{needs}'
    if args.action == "delete":
        need("manage_templates", "delete", args, "id")
        await ctx.client.delete_template(str(args.id))
        return "Template deleted."
    found = await ctx.client.templates()
    if not found:
        return "No templates."
    lines = []
    for t in found:
        variables = f" (variables: {', '.join(t.variables)})" if t.variables else ""
        lines.append(f"[{t.id}] {t.name}: {fmt.one_line(t.subject)}{variables}")
    return "\n".join(lines)


class TemplateSendArgs(ToolArgs):
    id: str = Field(min_length=1, max_length=64, description="The template's id.")
    to: str = Field(min_length=1, description="Recipients, separated by commas.")
    variables: dict[str, Any] | None = Field(
        default=None, description='Values for the placeholders, e.g. {"name": "Ada"}.'
    )
    cc: str | None = Field(default=None, description="Cc addresses, separated by commas.")
    bcc: str | None = Field(default=None, description="Bcc addresses, separated by commas.")
    signature: bool | None = _signature()


@tool(TemplateSendArgs)
async def template_send(ctx: ToolContext, args: TemplateSendArgs) -> str:
    """Send a template with its {{ variables }} filled in. Every placeholder needs a value;
    a missing one is an error naming it. The send gets every check send_email gets."""
    result = await ctx.client.send_template(
        args.id,
        args.to,
        variables=args.variables or {},
        cc=args.cc,
        bcc=args.bcc,
        signature=args.signature,
    )
    return fmt.send_result("Template email sent.", result)


class ManageScheduledArgs(ToolArgs):
    action: Literal["create", "list", "cancel"] = Field(description="What to do.")
    to: str | None = Field(default=None, description="Recipients, separated by commas.")
    subject: str | None = Field(default=None, max_length=998, description="Subject line.")
    text: str | None = Field(default=None, description="Plain-text body.")
    send_at: str | None = Field(
        default=None,
        max_length=200,
        description="When: ISO 8601, 'in 30 minutes', 'tomorrow 8am', 'next monday 9am', "
        "'02-14-2026 3:30 PM EST' or 'tonight'. Times without a zone are in your zone "
        "(metadata timezone, default UTC).",
    )
    id: str | None = _id()
    html: str | None = Field(default=None, description="HTML body (optional).")
    cc: str | None = Field(default=None, description="Cc addresses, separated by commas.")
    bcc: str | None = Field(default=None, description="Bcc addresses, separated by commas.")
    signature: bool | None = _signature()


@tool(ManageScheduledArgs)
async def manage_scheduled(ctx: ToolContext, args: ManageScheduledArgs) -> str:
    """Send an email later. create (to, subject, text, sendAt), list (every status, soonest
    first), cancel (id, while still pending). Scheduled mail survives restarts and is sent
    exactly once."""
    if args.action == "create":
        need("manage_scheduled", "create", args, "to", "subject", "send_at")
        made = await ctx.client.schedule(
            str(args.to),
            str(args.subject),
            str(args.send_at),
            text=args.text,
            html=args.html,
            cc=args.cc,
            bcc=args.bcc,
            signature=args.signature,
        )
        return (
            f"Email scheduled for {made.send_at_local} ({made.timezone}; "
            f"{fmt.iso(made.send_at)}). ID: {made.id}"
        )
    if args.action == "cancel":
        need("manage_scheduled", "cancel", args, "id")
        await ctx.client.cancel_scheduled(str(args.id))
        return "Scheduled email cancelled."
    found = await ctx.client.scheduled()
    if not found:
        return "No scheduled emails."
    lines = []
    for s in found:
        line = (
            f"[{s.id}] To: {fmt.one_line(s.to)} | Subject: {fmt.one_line(s.subject)} | "
            f"Send at: {s.send_at_local} | Status: {s.status}"
        )
        lines.append(line + (f" — {fmt.one_line(s.error)}" if s.error else ""))
    return "\n".join(lines)


TOOLS = (
    manage_contacts,
    manage_drafts,
    manage_signatures,
    manage_templates,
    template_send,
    manage_scheduled,
)
