"""An agent's mail: send, list, read, download, reply, forward, flag, move, delete, search.

Single-message routes name a UID in a folder (``?folder=``, default INBOX); a UID that is not
in the calling agent's folder answers 404 ``message_not_found``, whoever owns it.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from agentpost.api.deps import AgentDep, CtxDep, FolderQuery, LimitQuery, OffsetQuery, UidPath
from agentpost.api.idempotency import IdempotencyKeyHeader, run_once
from agentpost.api.presenters import (
    digest_item_of,
    message_of,
    page_of,
    send_result_of,
    summary_of,
)
from agentpost.api.schemas import (
    DeletedPublic,
    DigestPublic,
    ForwardCreate,
    MessagePublic,
    MoveCreate,
    MovedPublic,
    OkPublic,
    PagePublic,
    ReplyCreate,
    SearchCreate,
    SearchPublic,
    SendCreate,
    SendResultPublic,
)
from agentpost.domain.folders import INBOX, TRASH, canonical_folder
from agentpost.domain.mime import AttachmentInput, MimeError, decode_attachment
from agentpost.errors import InvalidInput, MessageNotFound
from agentpost.services import compose, mailbox, outbox, trust
from agentpost.services.context import AppContext
from agentpost.services.mailbox import SearchCriteria
from agentpost.storage.records import AgentRecord
from agentpost.storage.search import TextCriteria

router = APIRouter(prefix="/mail", tags=["mail"])
# Served bytes are untrusted mail content: never let a browser sniff or run them.
UNTRUSTED_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def _attachments(body: SendCreate) -> list[AttachmentInput]:
    decoded = []
    for index, item in enumerate(body.attachments):
        try:
            content = decode_attachment(
                item.content, item.encoding, field_name=f"attachments.{index}.content"
            )
        except MimeError as exc:
            raise InvalidInput(str(exc), field=exc.field) from exc
        guessed = mimetypes.guess_type(item.filename)[0]
        content_type = item.content_type or guessed or "application/octet-stream"
        decoded.append(AttachmentInput(item.filename, content, content_type))
    return decoded


def _send_request(body: SendCreate) -> outbox.SendRequest:
    return outbox.SendRequest(
        to=body.to,
        subject=body.subject,
        text=body.text or "",
        html=body.html or "",
        cc=body.cc,
        bcc=body.bcc,
        reply_to=body.reply_to,
        in_reply_to=body.in_reply_to,
        references=body.references,
        attachments=_attachments(body),
        signature=body.signature,
    )


@router.post("/send", response_model=SendResultPublic, response_model_exclude_none=True)
async def send_mail(
    ctx: CtxDep, agent: AgentDep, body: SendCreate, idempotency_key: IdempotencyKeyHeader = None
) -> SendResultPublic | Response:
    """Send a message. Local recipients get it at once; external ones are queued."""
    # api/send_lane.py answers most sends before this route is reached, with this function.
    return await send_answer(ctx, agent, body, idempotency_key)


async def send_answer(
    ctx: AppContext, agent: AgentRecord, body: SendCreate, idempotency_key: str | None
) -> SendResultPublic | Response:
    """What POST /mail/send answers, once the caller and the body are known."""

    async def send() -> SendResultPublic:
        return send_result_of(await outbox.submit_message(ctx, agent, _send_request(body)))

    return await run_once(ctx, agent, idempotency_key, "send", body, send)


@router.get("/inbox")
async def list_inbox(
    ctx: CtxDep, agent: AgentDep, limit: LimitQuery = 20, offset: OffsetQuery = 0
) -> PagePublic:
    """INBOX, newest first."""
    return page_of(await mailbox.list_folder(ctx, agent, INBOX, limit=limit, offset=offset))


@router.get("/messages/{uid}")
async def read_message(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = INBOX
) -> MessagePublic:
    """One message, parsed and sanitised, with its trust envelope (``security``). Reading
    does not mark it seen."""
    return message_of(await trust.read_message(ctx, agent, uid, folder))


@router.get(
    "/messages/{uid}/raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
async def read_raw_message(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = INBOX
) -> Response:
    """The message exactly as stored (RFC 5322 bytes)."""
    raw = await mailbox.read_raw(ctx, agent, uid, folder)
    return Response(raw, media_type="message/rfc822", headers=UNTRUSTED_HEADERS)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 8187 form
    (RFC 6266 §4.3), so no filename can break out of the header."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
    exact = quote(filename, safe="")
    return f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{exact}"


@router.get(
    "/messages/{uid}/attachments/{index}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def read_attachment(
    ctx: CtxDep,
    agent: AgentDep,
    uid: UidPath,
    index: Annotated[int, Path(ge=0, description="Position in the message's attachments.")],
    folder: FolderQuery = INBOX,
) -> Response:
    """The bytes of one attachment, as a download."""
    info, content = await mailbox.get_attachment(ctx, agent, uid, index, folder)
    headers = {"Content-Disposition": content_disposition(info.filename), **UNTRUSTED_HEADERS}
    return Response(content, media_type=info.content_type, headers=headers)


@router.post(
    "/messages/{uid}/reply", response_model=SendResultPublic, response_model_exclude_none=True
)
async def reply_to_message(
    ctx: CtxDep,
    agent: AgentDep,
    uid: UidPath,
    body: ReplyCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SendResultPublic | Response:
    """Reply (or reply to all) with the original quoted and the thread kept."""
    request = compose.ReplyRequest(
        text=body.text, html=body.html or "", reply_all=body.reply_all, folder=body.folder
    )

    async def send() -> SendResultPublic:
        return send_result_of(await compose.reply_message(ctx, agent, uid, request))

    return await run_once(ctx, agent, idempotency_key, f"reply:{uid}", body, send)


@router.post(
    "/messages/{uid}/forward", response_model=SendResultPublic, response_model_exclude_none=True
)
async def forward_message(
    ctx: CtxDep,
    agent: AgentDep,
    uid: UidPath,
    body: ForwardCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SendResultPublic | Response:
    """Forward with the original's attachments."""
    request = compose.ForwardRequest(to=body.to, text=body.text, cc=body.cc, folder=body.folder)

    async def send() -> SendResultPublic:
        return send_result_of(await compose.forward_message(ctx, agent, uid, request))

    return await run_once(ctx, agent, idempotency_key, f"forward:{uid}", body, send)


def _found_or_404(uid: int, hit: list[int] | dict[int, int], folder: str) -> None:
    if not hit:
        raise MessageNotFound(f"no message with UID {uid} in {folder}")


@router.delete("/messages/{uid}")
async def delete_message(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = INBOX
) -> DeletedPublic:
    """Move to Trash; from Trash, remove for good."""
    _found_or_404(uid, await mailbox.delete_messages(ctx, agent, [uid], folder=folder), folder)
    removed_for_good = canonical_folder(folder) == TRASH
    return DeletedPublic(uid=uid, moved_to=None if removed_for_good else TRASH)


@router.post("/messages/{uid}/move")
async def move_message(ctx: CtxDep, agent: AgentDep, uid: UidPath, body: MoveCreate) -> MovedPublic:
    """Move to another folder; the message gets a new UID there."""
    moved = await mailbox.move_messages(ctx, agent, [uid], source=body.from_, target=body.to)
    _found_or_404(uid, moved, body.from_)
    return MovedPublic(uid=uid, new_uid=moved[uid], folder=canonical_folder(body.to))


@router.post("/messages/{uid}/seen")
async def mark_seen(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = INBOX
) -> OkPublic:
    """Mark read."""
    _found_or_404(uid, await mailbox.set_seen(ctx, agent, [uid], seen=True, folder=folder), folder)
    return OkPublic()


@router.post("/messages/{uid}/unseen")
async def mark_unseen(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = INBOX
) -> OkPublic:
    """Mark unread."""
    _found_or_404(uid, await mailbox.set_seen(ctx, agent, [uid], seen=False, folder=folder), folder)
    return OkPublic()


@router.post("/search")
async def search_mail(ctx: CtxDep, agent: AgentDep, body: SearchCreate) -> SearchPublic:
    """Search one folder (default INBOX) by words and fields; newest first."""
    criteria = SearchCriteria(
        text=TextCriteria(from_=body.from_, to=body.to, subject=body.subject, text=body.text),
        folder=body.folder,
        since=body.since,
        before=body.before,
        seen=body.seen,
    )
    found, total = await mailbox.search_messages(
        ctx, agent, criteria, limit=body.limit, offset=body.offset
    )
    return SearchPublic(
        uids=[r.uid for r in found], messages=[summary_of(r) for r in found], total=total
    )


@router.get("/digest")
async def read_digest(
    ctx: CtxDep,
    agent: AgentDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    offset: OffsetQuery = 0,
    folder: FolderQuery = INBOX,
    preview_length: Annotated[int, Query(alias="previewLength", ge=50, le=500)] = 200,
) -> DigestPublic:
    """A compact page of a folder with text previews, for a quick look."""
    page = await mailbox.list_folder(ctx, agent, folder, limit=limit, offset=offset)
    return DigestPublic(
        messages=[digest_item_of(r, preview_length) for r in page.messages],
        count=len(page.messages),
        total=page.total,
        folder=page.folder,
    )
