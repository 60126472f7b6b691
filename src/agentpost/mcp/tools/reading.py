"""Reading tools: list the inbox or a folder, read one message, search, digest, batch read."""

from __future__ import annotations

from pydantic import Field

from agentpost.client import ClientError, SearchResult
from agentpost.mcp import format as fmt
from agentpost.mcp.registry import ToolArgs, ToolContext, ToolFailure, tool
from agentpost.mcp.tools.fields import Folder, Limit, Offset, Uid, Uids


class ListInboxArgs(ToolArgs):
    limit: Limit = 20
    offset: Offset = 0


class ListFolderArgs(ToolArgs):
    folder: str = Field(min_length=1, description='Folder to list, e.g. "Sent" or "Archive".')
    limit: Limit = 20
    offset: Offset = 0


class ReadEmailArgs(ToolArgs):
    uid: Uid
    folder: Folder = "INBOX"
    offset: int = Field(
        default=0, ge=0, description="Body character to start from, to page through long bodies."
    )


class SearchEmailsArgs(ToolArgs):
    from_: str | None = Field(default=None, alias="from", description="Sender contains this.")
    to: str | None = Field(default=None, description="A recipient contains this.")
    subject: str | None = Field(default=None, description="Subject contains this.")
    text: str | None = Field(default=None, description="Words in the body.")
    since: str | None = Field(default=None, description="On or after this ISO 8601 date.")
    before: str | None = Field(default=None, description="Before this ISO 8601 date.")
    seen: bool | None = Field(default=None, description="true: only read; false: only unread.")
    folder: str = Field(default="INBOX", min_length=1, description="Folder to search.")
    limit: Limit = 20
    offset: Offset = 0
    search_relay: bool = Field(
        default=False, description="Also search the connected relay account, when there is one."
    )


class InboxDigestArgs(ToolArgs):
    limit: int = Field(default=20, ge=1, le=50, description="How many messages (1-50).")
    offset: Offset = 0
    folder: Folder = "INBOX"
    preview_length: int = Field(
        default=200, ge=50, le=500, description="Preview characters per message (50-500)."
    )


class BatchReadArgs(ToolArgs):
    uids: Uids
    folder: Folder = "INBOX"


@tool(ListInboxArgs, read_only=True)
async def list_inbox(ctx: ToolContext, args: ListInboxArgs) -> str:
    """List the messages in your INBOX, newest first: UID, sender, subject, date, unread mark."""
    page = await ctx.client.inbox(limit=args.limit, offset=args.offset)
    return fmt.message_page(page, offset=args.offset, tool="list_inbox", empty="Inbox is empty.")


@tool(ListFolderArgs, read_only=True)
async def list_folder(ctx: ToolContext, args: ListFolderArgs) -> str:
    """List the messages in one folder, newest first."""
    page = await ctx.client.folder(args.folder, limit=args.limit, offset=args.offset)
    empty = f'Folder "{page.folder}" is empty.'
    return fmt.message_page(page, offset=args.offset, tool="list_folder", empty=empty)


@tool(ReadEmailArgs, read_only=True)
async def read_email(ctx: ToolContext, args: ReadEmailArgs) -> str:
    """Read one message: headers, the body (fenced as untrusted sender content, paged when
    long) and its attachments by index, name, type and size. Reading does not mark it read."""
    message = await ctx.client.read(args.uid, folder=args.folder)
    return fmt.read_message(message, offset=args.offset)


@tool(SearchEmailsArgs, read_only=True)
async def search_emails(ctx: ToolContext, args: SearchEmailsArgs) -> str:
    """Search your mail by sender, recipient, subject, body words, date range or read state."""
    result = await ctx.client.search(
        from_=args.from_,
        to=args.to,
        subject=args.subject,
        text=args.text,
        since=args.since,
        before=args.before,
        seen=args.seen,
        folder=args.folder,
        limit=args.limit,
        offset=args.offset,
        search_relay=args.search_relay or None,
    )
    text = _search_text(result, args.folder, args.offset)
    if args.search_relay:  # the relay account's mailbox too (mcp/tools/gateway.py imports)
        text += "\n" + await relay_search_text(ctx, args)
    return text


async def relay_search_text(ctx: ToolContext, args: SearchEmailsArgs) -> str:
    """Hits in the connected relay account, marked as such; best effort, like the reference."""
    try:
        found = await ctx.client.relay_search(
            from_=args.from_,
            to=args.to,
            subject=args.subject,
            text=args.text,
            since=args.since,
            before=args.before,
            seen=args.seen,
            limit=min(args.limit, 50),
        )
    except ClientError as exc:
        return f"Relay search unavailable: {exc.message}"
    if not found.relay_results:
        return "No matching emails in the relay account."
    lines = [f"{found.count} match(es) in the relay account (import with import_relay_email):"]
    for hit in found.relay_results:
        sender = ", ".join(str(a) for a in hit.from_) or "(unknown sender)"
        state = "imported" if hit.imported else "not imported"
        when = hit.date.date().isoformat() if hit.date else "?"
        lines.append(f"  [relay] uid {hit.uid} | {when} | {sender} | {hit.subject} ({state})")
    return "\n".join(lines)


def _search_text(result: SearchResult, folder: str, offset: int) -> str:
    if not result.uids and not result.messages:
        return f"No matching emails found in {folder}."
    total = max(result.total, len(result.uids))
    uids = ", ".join(str(uid) for uid in result.uids)
    lines = [f"{total} match(es) in {folder}. UIDs: {uids}"]
    lines += [fmt.summary_line(offset + i + 1, item) for i, item in enumerate(result.messages)]
    shown = offset + len(result.messages)
    if result.messages and shown < total:
        lines.append(f"More: call search_emails again with offset={shown}.")
    return "\n".join(lines)


@tool(InboxDigestArgs, read_only=True)
async def inbox_digest(ctx: ToolContext, args: InboxDigestArgs) -> str:
    """A compact overview of a folder: read state, sender, subject, date and a short preview."""
    result = await ctx.client.digest(
        limit=args.limit,
        offset=args.offset,
        folder=args.folder,
        preview_length=args.preview_length,
    )
    return fmt.digest(result, offset=args.offset)


@tool(BatchReadArgs, read_only=True)
async def batch_read(ctx: ToolContext, args: BatchReadArgs) -> str:
    """Read several messages at once; shows the first 500 body characters of each."""
    messages = await ctx.client.batch_read(args.uids, folder=args.folder)
    if not messages:
        raise ToolFailure(f"none of those UIDs exist in {args.folder}")
    return fmt.batch_read(messages, len(args.uids))


TOOLS = (list_inbox, list_folder, read_email, search_emails, inbox_digest, batch_read)
