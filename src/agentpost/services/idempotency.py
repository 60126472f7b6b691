"""Idempotency-Key on the send routes: a retried request returns the first answer.

A key belongs to one agent and lives 24 hours. Its row moves through three states:

    pending  claimed by a request, nothing sent yet (``claim``)
    sent     the send committed: flipped by ``bind_to_send`` inside the send's own write
             transaction (``services.outbox`` calls it once the send's checks have passed),
             so "sent" and the stored message are one atomic fact
    done     the answer (status and body) is recorded (``complete``)

A retry with the same key and the same request fingerprint gets the recorded answer; a
different request gets 409 ``idempotency_conflict``; a retry while the first is still running
gets 409 ``idempotency_in_progress``. A request that fails releases its pending key, so the
retry runs afresh: only successful answers are replayed. A pending claim older than
``STALE_AFTER`` belongs to a request that died before sending, and may be taken over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.errors import IdempotencyConflict, IdempotencyInProgress, InvalidInput
from agentpost.services.context import AppContext
from agentpost.storage.repositories import permissions as repo

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255

# (agent id, key) of the request whose send is running in this task, if it has a key.
_bound: ContextVar[tuple[str, str] | None] = ContextVar("agentpost_idempotency", default=None)


@dataclass(frozen=True, slots=True)
class Replay:
    """The recorded first answer."""

    status_code: int
    body: Any


def check_key(key: str) -> str:
    """Keys are 1-255 visible ASCII characters (a UUID is a good choice)."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
        raise InvalidInput(
            f"the {HEADER} header must be 1-{MAX_KEY_LENGTH} visible ASCII characters, e.g. a UUID",
            field=HEADER,
        )
    return key


def fingerprint(operation: str, body: Any) -> str:
    """A hash of the operation and its canonical JSON body (key order and spacing ignored)."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def claim(ctx: AppContext, agent_id: str, key: str, print_: str) -> Replay | None:
    """Claim ``key`` for a new request (None), or return the first answer to replay."""
    try:
        return await _claim_once(ctx, agent_id, key, print_)
    except IntegrityError:
        # A concurrent request inserted the same key first; look at what it left.
        return await _claim_once(ctx, agent_id, key, print_)


async def _claim_once(ctx: AppContext, agent_id: str, key: str, print_: str) -> Replay | None:
    now = datetime.now(UTC)
    async with ctx.db.write() as conn:
        await repo.purge_expired_keys(conn, agent_id, now)
        existing = await repo.get_key(conn, agent_id, key)
        if existing is None:
            await repo.insert_key(
                conn, agent_id=agent_id, key=key, fingerprint=print_, now=now, expires_at=now + TTL
            )
            return None
        if existing.fingerprint != print_:
            raise IdempotencyConflict(
                f"the {HEADER} {key!r} was already used for a different request; use a new key "
                "for a new message"
            )
        if existing.state == "done" and existing.status_code is not None:
            return Replay(existing.status_code, json.loads(existing.response or "null"))
        stale = existing.state == "pending" and existing.created_at <= now - STALE_AFTER
        if stale and await repo.restart_key(conn, agent_id, key, now):
            return None
    message = (
        "the first request with this key is still being processed; retry in a moment"
        if existing.state == "pending"
        else "the first request with this key was sent, but the server stopped before "
        "recording its answer; check your Sent folder instead of sending again"
    )
    raise IdempotencyInProgress(f"{HEADER} {key!r}: {message}")


Binding = tuple[str, str] | None  # (agent id, key) bound to a running send, if any


@contextmanager
def bound(agent_id: str, key: str) -> Iterator[None]:
    """Run a send with ``key`` bound, so its transaction marks the key sent."""
    with rebound((agent_id, key)):
        yield


def binding() -> Binding:
    """The key bound in this task: a send written by another task (group commit) carries it
    there and ``rebound`` it."""
    return _bound.get()


@contextmanager
def rebound(value: Binding) -> Iterator[None]:
    token = _bound.set(value)
    try:
        yield
    finally:
        _bound.reset(token)


async def bind_to_send(conn: AsyncConnection) -> None:
    """Inside the send's transaction: mark the bound key sent (rolled back with the send)."""
    current = _bound.get()
    if current is None:
        return
    agent_id, key = current
    if not await repo.set_key_state(conn, agent_id, key, from_state="pending", to_state="sent"):
        raise IdempotencyInProgress(
            f"{HEADER} {key!r} was taken over by another request; check your Sent folder"
        )


async def complete(ctx: AppContext, agent_id: str, key: str, status_code: int, body: Any) -> None:
    """Record the answer to replay."""
    text = json.dumps(body, separators=(",", ":"))
    async with ctx.db.write() as conn:
        for state in ("sent", "pending"):  # pending: a path that stored without authorizing
            if await repo.set_key_state(
                conn,
                agent_id,
                key,
                from_state=state,
                to_state="done",
                status_code=status_code,
                response=text,
            ):
                return


async def release(ctx: AppContext, agent_id: str, key: str) -> None:
    """The request failed before sending: free the key for a retry."""
    async with ctx.db.write() as conn:
        await repo.delete_key(conn, agent_id, key, state="pending")
