"""manage_spam: the Spam folder, reporting spam or not-spam, and a message's spam score.

Reports are remembered per sender: after ``report`` the sender's mail goes to Spam when it is
delivered; after ``not_spam`` it never does. Scores are the ones computed at delivery.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentpost.client.spam import SpamScore
from agentpost.mcp import format as fmt
from agentpost.mcp.registry import ToolArgs, ToolContext, ToolFailure, tool
from agentpost.mcp.tools.fields import Limit, Offset


class ManageSpamArgs(ToolArgs):
    action: Literal["list", "report", "not_spam", "score"] = Field(
        description="list the Spam folder; report a message as spam; not_spam to move it "
        "back to INBOX; score to see its spam score and matched rules."
    )
    uid: int | None = Field(default=None, ge=1, description="Message UID (report/not_spam/score).")
    folder: str | None = Field(
        default=None,
        min_length=1,
        description='Folder of the message (report: default "INBOX"; not_spam: default "Spam";'
        ' score: default "INBOX").',
    )
    limit: Limit = 20
    offset: Offset = 0


def _score_text(result: SpamScore) -> str:
    label = "SPAM" if result.is_spam else "WARNING" if result.is_warning else "clean"
    lines = [
        f"Spam score of UID {result.uid} in {result.folder}: {result.score} ({label}; spam at 40,"
        f" warning at 20). Top category: {result.top_category or 'none'}."
        f" Injection score: {result.injection_score}.",
    ]
    if result.internal:
        lines.append("Sent by an agent of this server.")
    for match in result.matches:
        lines.append(f"  [{match.rule_id}] +{match.score} {match.category}: {match.description}")
    if not result.matches:
        lines.append("No rule matched.")
    return "\n".join(lines)


def _need_uid(args: ManageSpamArgs) -> int:
    if args.uid is None:
        raise ToolFailure(f"manage_spam action={args.action} needs uid")
    return args.uid


@tool(ManageSpamArgs)
async def manage_spam(ctx: ToolContext, args: ManageSpamArgs) -> str:
    """Manage spam: list the Spam folder, report a message as spam (its sender's future mail
    goes to Spam), mark one as not spam (back to INBOX, sender trusted), or show a message's
    spam score with the rules that matched."""
    client = ctx.client
    if args.action == "list":
        page = await client.spam(limit=args.limit, offset=args.offset)
        return fmt.message_page(
            page, offset=args.offset, tool="manage_spam", empty="The Spam folder is empty."
        )
    uid = _need_uid(args)
    if args.action == "report":
        done = await client.report_spam(uid, folder=args.folder)
        return (
            f"Moved UID {uid} to Spam (new UID {done.uid}). Mail from {done.sender} will go "
            "to Spam from now on."
        )
    if args.action == "not_spam":
        done = await client.report_not_spam(uid, folder=args.folder)
        return (
            f"Moved UID {uid} back to INBOX (new UID {done.uid}). Mail from {done.sender} "
            "will no longer be filed as spam."
        )
    return _score_text(await client.spam_score(uid, folder=args.folder))


TOOLS = (manage_spam,)
