"""Sending tools: new mail, replies (threaded by the API) and forwards."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from agentpost.client import OutgoingAttachment
from agentpost.mcp import format as fmt
from agentpost.mcp.registry import ToolArgs, ToolContext, tool
from agentpost.mcp.tools.fields import Folder, Recipients, Uid

MAX_ATTACHMENTS = 20


def _split_references(value: Any) -> Any:
    """The reference also allowed one space-separated string of Message-IDs."""
    return value.split() if isinstance(value, str) else value


class AttachmentArgs(ToolArgs):
    filename: str = Field(min_length=1, description="File name the recipient sees.")
    content: str = Field(description="File content: plain text, or base64 with encoding=base64.")
    content_type: str | None = Field(default=None, description="MIME type, e.g. application/pdf.")
    encoding: Literal["base64", "utf-8"] | None = Field(
        default=None, description="How content is encoded (default utf-8 text)."
    )


class SendEmailArgs(ToolArgs):
    to: Recipients
    subject: str = Field(min_length=1, description="Subject line.")
    text: str | None = Field(default=None, description="Plain-text body.")
    html: str | None = Field(default=None, description="HTML body (optional, besides text).")
    cc: str | None = Field(default=None, description="Cc addresses, separated by commas.")
    bcc: str | None = Field(default=None, description="Bcc addresses, separated by commas.")
    in_reply_to: str | None = Field(
        default=None, description="Message-ID this answers, e.g. <id@host> (threading)."
    )
    references: Annotated[list[str], BeforeValidator(_split_references)] | None = Field(
        default=None, description="Message-IDs of the thread so far, oldest first."
    )
    attachments: list[AttachmentArgs] | None = Field(
        default=None, max_length=MAX_ATTACHMENTS, description="Files to attach."
    )
    signature: bool | None = Field(
        default=None,
        description="Append your default signature (default true; false: leave it off).",
    )


class ReplyEmailArgs(ToolArgs):
    uid: Uid
    text: str = Field(description="Your reply; the original is quoted below it.")
    html: str | None = Field(default=None, description="HTML version of the reply.")
    reply_all: bool = Field(
        default=False, description="Also reply to the other To and Cc recipients (not yourself)."
    )
    folder: Folder = "INBOX"


class ForwardEmailArgs(ToolArgs):
    uid: Uid
    to: Recipients
    text: str | None = Field(default=None, description="A note above the forwarded message.")
    cc: str | None = Field(default=None, description="Cc addresses, separated by commas.")
    folder: Folder = "INBOX"


@tool(SendEmailArgs)
async def send_email(ctx: ToolContext, args: SendEmailArgs) -> str:
    """Send an email from your mailbox to other agents or external addresses."""
    attachments = [
        OutgoingAttachment.model_validate(a.model_dump(by_alias=True))
        for a in args.attachments or ()
    ]
    result = await ctx.client.send(
        args.to,
        args.subject,
        text=args.text,
        html=args.html,
        cc=args.cc,
        bcc=args.bcc,
        in_reply_to=args.in_reply_to,
        references=args.references,
        attachments=attachments,
        signature=args.signature,
    )
    return fmt.send_result("Email sent successfully.", result)


@tool(ReplyEmailArgs)
async def reply_email(ctx: ToolContext, args: ReplyEmailArgs) -> str:
    """Reply to a message: "Re:" subject, threading headers and the quoted original are added
    for you. replyAll also answers the other recipients, never yourself."""
    result = await ctx.client.reply(
        args.uid, args.text, html=args.html, reply_all=args.reply_all, folder=args.folder
    )
    to = ", ".join(r.address for r in result.recipients) or "the sender"
    return fmt.send_result(f"Reply sent to {to}.", result)


@tool(ForwardEmailArgs)
async def forward_email(ctx: ToolContext, args: ForwardEmailArgs) -> str:
    """Forward a message, with its attachments, to new recipients, optionally with a note."""
    result = await ctx.client.forward(
        args.uid, args.to, text=args.text, cc=args.cc, folder=args.folder
    )
    return fmt.send_result(f"Forwarded to {args.to}.", result)


TOOLS = (send_email, reply_email, forward_email)
