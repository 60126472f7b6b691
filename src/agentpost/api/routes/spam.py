"""manage_spam over REST: the Spam folder, reporting spam and not-spam, a message's score.

Paths follow the AgenticMail reference (research/upstream-contract.md §2.6); the score route
answers the stored scan with rule objects, and reports also remember the sender.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from agentpost.api.deps import AgentDep, CtxDep, FolderQuery, LimitQuery, OffsetQuery, UidPath
from agentpost.api.presenters import page_of, rule_matches_of
from agentpost.api.schemas import FOLDER_NAME_MAX, ApiModel, PagePublic, RuleMatchPublic
from agentpost.domain.folders import INBOX, SPAM
from agentpost.services import spam

router = APIRouter(prefix="/mail", tags=["spam"])


class SpamReportCreate(ApiModel):
    folder: str = Field(default=INBOX, min_length=1, max_length=FOLDER_NAME_MAX)


class NotSpamCreate(ApiModel):
    folder: str = Field(default=SPAM, min_length=1, max_length=FOLDER_NAME_MAX)


class SpamReportedPublic(ApiModel):
    ok: bool = True
    moved_to_spam: bool | None = None
    moved_to_inbox: bool | None = None
    uid: int = Field(description="The message's UID in the folder it is in now.")
    folder: str
    sender: str = Field(description="The sender remembered for future mail.")


class SpamScorePublic(ApiModel):
    uid: int
    folder: str
    score: int
    is_spam: bool
    is_warning: bool
    verdict: str
    top_category: str | None
    matches: list[RuleMatchPublic]
    injection_score: int
    internal: bool


@router.get("/spam")
async def list_spam(
    ctx: CtxDep, agent: AgentDep, limit: LimitQuery = 20, offset: OffsetQuery = 0
) -> PagePublic:
    """The Spam folder, newest first."""
    return page_of(await spam.list_spam(ctx, agent, limit=limit, offset=offset))


@router.post("/messages/{uid}/spam", response_model_exclude_none=True)
async def report_spam(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, body: SpamReportCreate | None = None
) -> SpamReportedPublic:
    """Move a message to Spam; later mail from its sender goes to Spam on delivery."""
    done = await spam.report_spam(ctx, agent, uid, (body or SpamReportCreate()).folder)
    return SpamReportedPublic(
        moved_to_spam=True, uid=done.uid, folder=done.folder, sender=done.sender
    )


@router.post("/messages/{uid}/not-spam", response_model_exclude_none=True)
async def report_not_spam(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, body: NotSpamCreate | None = None
) -> SpamReportedPublic:
    """Move a message from Spam back to INBOX; its sender is never filed as spam again."""
    done = await spam.report_not_spam(ctx, agent, uid, (body or NotSpamCreate()).folder)
    return SpamReportedPublic(
        moved_to_inbox=True, uid=done.uid, folder=done.folder, sender=done.sender
    )


@router.get("/messages/{uid}/spam-score")
async def spam_score(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = INBOX
) -> SpamScorePublic:
    """A message's spam score and the rules that matched, as scanned on delivery."""
    result = await spam.spam_score(ctx, agent, uid, folder)
    report = result.report
    return SpamScorePublic(
        uid=result.uid,
        folder=result.folder,
        score=report.score,
        is_spam=result.verdict == "spam",
        is_warning=result.verdict == "warning",
        verdict=result.verdict,
        top_category=report.top_category,
        matches=rule_matches_of(report.matches),
        injection_score=report.injection_score,
        internal=result.internal,
    )
