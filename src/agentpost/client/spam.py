"""Client calls for manage_spam (docs/api/safety.md), mixed into ``AgentPostClient``."""

from __future__ import annotations

from agentpost.client.base import ClientBase
from agentpost.client.models import MessagePage, Model, RuleMatch


class SpamReported(Model):
    ok: bool = True
    moved_to_spam: bool | None = None
    moved_to_inbox: bool | None = None
    uid: int
    folder: str
    sender: str = ""


class SpamScore(Model):
    uid: int
    folder: str = "INBOX"
    score: int = 0
    is_spam: bool = False
    is_warning: bool = False
    verdict: str = "ham"
    top_category: str | None = None
    matches: list[RuleMatch] = []
    injection_score: int = 0
    internal: bool = False


class SpamCalls(ClientBase):
    async def spam(self, *, limit: int | None = None, offset: int | None = None) -> MessagePage:
        """GET /mail/spam: the Spam folder, newest first."""
        params = {"limit": limit, "offset": offset}
        return MessagePage.model_validate(await self._json("GET", "/mail/spam", params=params))

    async def report_spam(self, uid: int, *, folder: str | None = None) -> SpamReported:
        """POST /mail/messages/{uid}/spam: move to Spam and remember the sender."""
        body = {"folder": folder} if folder else {}
        data = await self._json("POST", f"/mail/messages/{uid}/spam", json_body=body)
        return SpamReported.model_validate(data)

    async def report_not_spam(self, uid: int, *, folder: str | None = None) -> SpamReported:
        """POST /mail/messages/{uid}/not-spam: back to INBOX; the sender is trusted."""
        body = {"folder": folder} if folder else {}
        data = await self._json("POST", f"/mail/messages/{uid}/not-spam", json_body=body)
        return SpamReported.model_validate(data)

    async def spam_score(self, uid: int, *, folder: str | None = None) -> SpamScore:
        """GET /mail/messages/{uid}/spam-score: the stored score and matched rules."""
        data = await self._json(
            "GET", f"/mail/messages/{uid}/spam-score", params={"folder": folder}
        )
        return SpamScore.model_validate(data)
