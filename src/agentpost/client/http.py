"""The HTTP client of the typed async Python SDK over the AgentPost REST API (``docs/api.md``).

One method per route, answers parsed into pydantic models (camelCase on the wire, snake_case
here; unknown fields are kept, so a newer server does not break an older client). Any non-2xx
answer raises ``ClientError`` carrying the HTTP status and the API's stable ``code``; a server
that cannot be reached raises ``APIUnavailable``. Calls time out after 30 s, except the long
poll ``wait`` and the ``events`` stream, whose read timeouts follow their own lifetimes.

    async with AgentPostClient("http://127.0.0.1:3100", "ak_...") as client:
        page = await client.inbox(limit=10)
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from agentpost.client.base import (
    DEFAULT_TIMEOUT,
    EVENTS_READ_TIMEOUT,
    WAIT_GRACE,
    APIUnavailable,
    ClientBase,
    compact,
    error_from,
    segment,
)
from agentpost.client.content import ContentCalls
from agentpost.client.delivery import DeliveryCalls
from agentpost.client.gateway import GatewayCalls
from agentpost.client.models import (
    Agent,
    AgentDeleted,
    BatchDeleted,
    BatchMoved,
    CreatedAgent,
    DeleteResult,
    Digest,
    DirectoryEntry,
    Folder,
    Health,
    Message,
    MessagePage,
    MoveResult,
    OutgoingAttachment,
    OwnerKey,
    SearchResult,
    SendResult,
    WaitResult,
)
from agentpost.client.pending import PendingCalls
from agentpost.client.policy import PolicyCalls
from agentpost.client.spam import SpamCalls
from agentpost.client.workflow import WorkflowCalls


class AgentPostClient(
    SpamCalls,
    GatewayCalls,
    DeliveryCalls,
    ContentCalls,
    WorkflowCalls,
    PendingCalls,
    PolicyCalls,
    ClientBase,
):
    """An API client bound to one key (agent, owner or master): one method per route."""

    # -- health and accounts ----------------------------------------------------------------

    async def health(self) -> Health:
        return Health.model_validate(await self._json("GET", "/health"))

    async def create_account(
        self,
        name: str,
        *,
        role: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        persistent: bool | None = None,
        domain: str | None = None,
    ) -> CreatedAgent:
        body = compact({"name": name, "role": role, "metadata": metadata})
        body |= compact({"persistent": persistent, "domain": domain})
        return CreatedAgent.model_validate(await self._json("POST", "/accounts", json_body=body))

    async def list_accounts(self) -> list[Agent]:
        data = await self._json("GET", "/accounts")
        return [Agent.model_validate(item) for item in data["agents"]]

    async def me(self) -> Agent:
        return Agent.model_validate(await self._json("GET", "/accounts/me"))

    async def update_me(self, metadata: Mapping[str, Any]) -> Agent:
        body = {"metadata": dict(metadata)}
        return Agent.model_validate(await self._json("PATCH", "/accounts/me", json_body=body))

    async def directory(self) -> list[DirectoryEntry]:
        data = await self._json("GET", "/accounts/directory")
        return [DirectoryEntry.model_validate(item) for item in data["agents"]]

    async def directory_entry(self, name: str) -> DirectoryEntry:
        path = f"/accounts/directory/{segment(name)}"
        return DirectoryEntry.model_validate(await self._json("GET", path))

    async def delete_account(self, name_or_id: str) -> AgentDeleted:
        path = f"/accounts/{segment(name_or_id)}"
        return AgentDeleted.model_validate(await self._json("DELETE", path))

    async def rotate_key(self, name_or_id: str) -> CreatedAgent:
        """A new API key for an agent (its owner or the master key): the old one stops
        working at once, in every process; the new one is in the answer, and only there."""
        path = f"/accounts/{segment(name_or_id)}/key"
        return CreatedAgent.model_validate(await self._json("POST", path))

    async def rotate_owner_key(self, owner_id: str) -> OwnerKey:
        """A new owner key (the master key only), with the same effect."""
        path = f"/accounts/owners/{segment(owner_id)}/key"
        return OwnerKey.model_validate(await self._json("POST", path))

    # -- sending ----------------------------------------------------------------------------

    async def send(
        self,
        to: str | Sequence[str],
        subject: str,
        *,
        text: str | None = None,
        html: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | Sequence[str] | None = None,
        in_reply_to: str | None = None,
        references: str | Sequence[str] | None = None,
        attachments: Sequence[OutgoingAttachment] | None = None,
        idempotency_key: str | None = None,
        signature: bool | None = None,
    ) -> SendResult:
        body = compact(
            {"to": to, "subject": subject, "text": text, "html": html, "cc": cc, "bcc": bcc}
            | {"replyTo": reply_to, "inReplyTo": in_reply_to, "references": references}
            | {"signature": signature}
        )
        if attachments:
            body["attachments"] = [
                a.model_dump(by_alias=True, exclude_none=True) for a in attachments
            ]
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        data = await self._json("POST", "/mail/send", json_body=body, headers=headers)
        return SendResult.model_validate(data)

    async def reply(
        self,
        uid: int,
        text: str,
        *,
        html: str | None = None,
        reply_all: bool | None = None,
        folder: str | None = None,
    ) -> SendResult:
        body = compact({"text": text, "html": html, "replyAll": reply_all, "folder": folder})
        data = await self._json("POST", f"/mail/messages/{uid}/reply", json_body=body)
        return SendResult.model_validate(data)

    async def forward(
        self,
        uid: int,
        to: str | Sequence[str],
        *,
        text: str | None = None,
        cc: str | Sequence[str] | None = None,
        folder: str | None = None,
    ) -> SendResult:
        body = compact({"to": to, "text": text, "cc": cc, "folder": folder})
        data = await self._json("POST", f"/mail/messages/{uid}/forward", json_body=body)
        return SendResult.model_validate(data)

    # -- reading ----------------------------------------------------------------------------

    async def inbox(self, *, limit: int | None = None, offset: int | None = None) -> MessagePage:
        params = {"limit": limit, "offset": offset}
        return MessagePage.model_validate(await self._json("GET", "/mail/inbox", params=params))

    async def folder(
        self, folder: str, *, limit: int | None = None, offset: int | None = None
    ) -> MessagePage:
        path = f"/mail/folders/{segment(folder)}"
        data = await self._json("GET", path, params={"limit": limit, "offset": offset})
        return MessagePage.model_validate(data)

    async def read(self, uid: int, *, folder: str | None = None) -> Message:
        data = await self._json("GET", f"/mail/messages/{uid}", params={"folder": folder})
        return Message.model_validate(data)

    async def raw(self, uid: int, *, folder: str | None = None) -> bytes:
        response = await self._send("GET", f"/mail/messages/{uid}/raw", params={"folder": folder})
        return response.content

    async def attachment(self, uid: int, index: int, *, folder: str | None = None) -> bytes:
        path = f"/mail/messages/{uid}/attachments/{index}"
        return (await self._send("GET", path, params={"folder": folder})).content

    async def digest(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        folder: str | None = None,
        preview_length: int | None = None,
    ) -> Digest:
        params = {"limit": limit, "offset": offset, "folder": folder}
        params["previewLength"] = preview_length
        return Digest.model_validate(await self._json("GET", "/mail/digest", params=params))

    async def search(
        self,
        *,
        from_: str | None = None,
        to: str | None = None,
        subject: str | None = None,
        text: str | None = None,
        since: str | None = None,
        before: str | None = None,
        seen: bool | None = None,
        folder: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        search_relay: bool | None = None,
    ) -> SearchResult:
        body = compact(
            {"from": from_, "to": to, "subject": subject, "text": text, "since": since}
            | {"before": before, "seen": seen, "folder": folder, "limit": limit}
            | {"offset": offset, "searchRelay": search_relay}
        )
        return SearchResult.model_validate(await self._json("POST", "/mail/search", json_body=body))

    # -- organising -------------------------------------------------------------------------

    async def delete(self, uid: int, *, folder: str | None = None) -> DeleteResult:
        data = await self._json("DELETE", f"/mail/messages/{uid}", params={"folder": folder})
        return DeleteResult.model_validate(data)

    async def move(self, uid: int, to: str, *, from_folder: str | None = None) -> MoveResult:
        body = compact({"to": to, "from": from_folder})
        data = await self._json("POST", f"/mail/messages/{uid}/move", json_body=body)
        return MoveResult.model_validate(data)

    async def mark_seen(self, uid: int, *, folder: str | None = None) -> None:
        await self._send("POST", f"/mail/messages/{uid}/seen", params={"folder": folder})

    async def mark_unseen(self, uid: int, *, folder: str | None = None) -> None:
        await self._send("POST", f"/mail/messages/{uid}/unseen", params={"folder": folder})

    async def folders(self) -> list[Folder]:
        data = await self._json("GET", "/mail/folders")
        return [Folder.model_validate(item) for item in data["folders"]]

    async def create_folder(self, name: str) -> str:
        data = await self._json("POST", "/mail/folders", json_body={"name": name})
        return str(data.get("folder", name))

    # -- batches ----------------------------------------------------------------------------

    async def batch_delete(self, uids: Sequence[int], *, folder: str | None = None) -> BatchDeleted:
        body = compact({"uids": list(uids), "folder": folder})
        data = await self._json("POST", "/mail/batch/delete", json_body=body)
        return BatchDeleted.model_validate(data)

    async def batch_seen(self, uids: Sequence[int], *, folder: str | None = None) -> int:
        body = compact({"uids": list(uids), "folder": folder})
        return int((await self._json("POST", "/mail/batch/seen", json_body=body))["marked"])

    async def batch_unseen(self, uids: Sequence[int], *, folder: str | None = None) -> int:
        body = compact({"uids": list(uids), "folder": folder})
        return int((await self._json("POST", "/mail/batch/unseen", json_body=body))["marked"])

    async def batch_move(
        self, uids: Sequence[int], to: str, *, from_folder: str | None = None
    ) -> BatchMoved:
        body = compact({"uids": list(uids), "to": to, "from": from_folder})
        data = await self._json("POST", "/mail/batch/move", json_body=body)
        return BatchMoved.model_validate(data)

    async def batch_read(self, uids: Sequence[int], *, folder: str | None = None) -> list[Message]:
        body = compact({"uids": list(uids), "folder": folder})
        data = await self._json("POST", "/mail/batch/read", json_body=body)
        return [Message.model_validate(item) for item in data["messages"]]

    # -- waiting ----------------------------------------------------------------------------

    async def wait(self, timeout: int | None = None) -> WaitResult:
        """Long-poll until new mail arrives or ``timeout`` seconds pass (server default 120)."""
        patience = httpx.Timeout(DEFAULT_TIMEOUT, read=(timeout or 120) + WAIT_GRACE)
        data = await self._json("GET", "/mail/wait", params={"timeout": timeout}, timeout=patience)
        return WaitResult.model_validate(data)

    @asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Open the agent's SSE stream; yields an iterator of event payloads (dicts with
        ``type``). The stream is closed when the ``async with`` block ends."""
        headers = self._headers({"Accept": "text/event-stream"})
        timeout = httpx.Timeout(DEFAULT_TIMEOUT, read=EVENTS_READ_TIMEOUT)
        request = self._http.build_request(
            "GET", self.base_url + "/events", headers=headers, timeout=timeout
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise APIUnavailable(
                0, "api_unreachable", f"cannot open the event stream: {exc}"
            ) from exc
        payloads = _sse_payloads(response)
        try:
            if not response.is_success:
                await response.aread()
                raise error_from(response)
            yield payloads
        finally:
            await payloads.aclose()
            await response.aclose()


async def _sse_payloads(response: httpx.Response) -> AsyncGenerator[dict[str, Any]]:
    """Parse ``text/event-stream`` framing: ``data:`` lines up to a blank line make one event;
    comment lines (``: ping``) keep the connection alive and are skipped."""
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line == "" and data:
                payload = _parse_event("\n".join(data))
                data = []
                if payload is not None:
                    yield payload
    except httpx.TransportError as exc:
        raise APIUnavailable(0, "stream_lost", f"the event stream broke off: {exc}") from exc


def _parse_event(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
