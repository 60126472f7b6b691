"""Organising tools: delete, move, read/unread flags and folders, one message or a batch."""

from __future__ import annotations

from pydantic import Field

from agentpost.mcp import format as fmt
from agentpost.mcp.registry import NoArgs, ToolArgs, ToolContext, tool
from agentpost.mcp.tools.fields import Folder, Uid, Uids


class MessageArgs(ToolArgs):
    uid: Uid
    folder: Folder = "INBOX"


class MoveEmailArgs(ToolArgs):
    uid: Uid
    to: str = Field(min_length=1, description="Destination folder.")
    from_: str = Field(
        default="INBOX", min_length=1, alias="from", description="Folder the message is in."
    )


class CreateFolderArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=200, description="Name of the new folder.")


class BatchArgs(ToolArgs):
    uids: Uids
    folder: Folder = "INBOX"


class BatchMoveArgs(ToolArgs):
    uids: Uids
    to: str = Field(min_length=1, description="Destination folder.")
    from_: str = Field(
        default="INBOX", min_length=1, alias="from", description="Folder the messages are in."
    )


@tool(MessageArgs, destructive=True)
async def delete_email(ctx: ToolContext, args: MessageArgs) -> str:
    """Delete a message: it moves to Trash; deleting it from Trash removes it for good."""
    result = await ctx.client.delete(args.uid, folder=args.folder)
    if result.moved_to:
        return f"Email UID {args.uid} moved to {result.moved_to}."
    return f"Email UID {args.uid} deleted permanently."


@tool(MoveEmailArgs)
async def move_email(ctx: ToolContext, args: MoveEmailArgs) -> str:
    """Move a message to another folder; it gets a new UID there."""
    result = await ctx.client.move(args.uid, args.to, from_folder=args.from_)
    return f"Moved message UID {args.uid} to {result.folder} (new UID {result.new_uid})."


@tool(MessageArgs)
async def mark_read(ctx: ToolContext, args: MessageArgs) -> str:
    """Mark a message as read."""
    await ctx.client.mark_seen(args.uid, folder=args.folder)
    return f"Marked message UID {args.uid} as read."


@tool(MessageArgs)
async def mark_unread(ctx: ToolContext, args: MessageArgs) -> str:
    """Mark a message as unread."""
    await ctx.client.mark_unseen(args.uid, folder=args.folder)
    return f"Marked message UID {args.uid} as unread."


@tool(NoArgs, read_only=True)
async def list_folders(ctx: ToolContext, args: NoArgs) -> str:
    """List your folders with their message and unread counts."""
    return fmt.folders(await ctx.client.folders())


@tool(CreateFolderArgs)
async def create_folder(ctx: ToolContext, args: CreateFolderArgs) -> str:
    """Create a folder for organising mail."""
    name = await ctx.client.create_folder(args.name)
    return f'Folder "{name}" created successfully.'


@tool(BatchArgs, destructive=True)
async def batch_delete(ctx: ToolContext, args: BatchArgs) -> str:
    """Delete several messages (to Trash; from Trash for good)."""
    result = await ctx.client.batch_delete(args.uids, folder=args.folder)
    return f"Deleted {result.deleted} of {len(args.uids)} messages."


@tool(BatchArgs)
async def batch_mark_read(ctx: ToolContext, args: BatchArgs) -> str:
    """Mark several messages as read."""
    marked = await ctx.client.batch_seen(args.uids, folder=args.folder)
    return f"Marked {marked} messages as read."


@tool(BatchArgs)
async def batch_mark_unread(ctx: ToolContext, args: BatchArgs) -> str:
    """Mark several messages as unread."""
    marked = await ctx.client.batch_unseen(args.uids, folder=args.folder)
    return f"Marked {marked} messages as unread."


@tool(BatchMoveArgs)
async def batch_move(ctx: ToolContext, args: BatchMoveArgs) -> str:
    """Move several messages to another folder; each gets a new UID there."""
    result = await ctx.client.batch_move(args.uids, args.to, from_folder=args.from_)
    text = f"Moved {result.moved} messages to {args.to}."
    if result.uids:
        text += " New UIDs: " + ", ".join(f"{old}→{new}" for old, new in result.uids.items())
    return text


TOOLS = (
    delete_email,
    move_email,
    mark_read,
    mark_unread,
    list_folders,
    create_folder,
    batch_delete,
    batch_mark_read,
    batch_mark_unread,
    batch_move,
)
