"""The delivery queue as the worker uses it: claim due rows, find their SMTP endpoint, record
each attempt's outcome, and bounce what can never be delivered.

Every state change is a committed row before or after the SMTP conversation, never during it:
a row is marked ``sending`` under a lease before the worker talks to the server and becomes
``delivered`` only after the 250 reply is recorded. A worker that dies in between leaves a
``sending`` row whose lease runs out; the next claim sends it again (the one duplicate SMTP
itself cannot rule out, RFC 5321 §6.1: the reply to the final dot may be lost).

The worker's transactions (claims, outcomes) commit without waiting for the disk
(``Database.write(durable=False)``): a crash of the process loses none of them, and the next
send's commit makes them durable. Only a crash of the machine can lose the last moment's
outcomes, and then those messages are sent again, as Postfix would send them: mail is
never lost, and an accepted send is on disk before the API answers, as before.

Outcomes are data: a ``delivery_attempts`` row per recipient per attempt, an audit row per
message and outcome (``send.delivered``/``send.deferred``/``send.failed``), and for a
permanent failure a bounce notice (domain/dsn.py) for the sender, placed like any other
incoming copy (services/placement.py: INBOX unless the agent's rules say otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.dsn import BounceInput, Failure, build_bounce
from agentpost.domain.mime import ParsedMessage, new_message_id
from agentpost.domain.transport import SmtpEndpoint
from agentpost.errors import AgentPostError
from agentpost.services import audit, placement, smtp_configs
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.inbox import new_mail_event, parse_for_index
from agentpost.services.store import CopySpec, store_copies
from agentpost.storage.repositories import delivery as repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.repositories.delivery import ClaimedRow

# Events on this pseudo-agent wake delivery workers, in this process and (through the
# PostgreSQL NOTIFY relay) in every other one. No agent id can take this form.
DELIVERY_TOPIC = "@delivery"
NO_CONFIGURATION = (
    "no SMTP configuration to send through: the owner must add one (agentpost smtp add, or "
    "POST /smtp-configs); the message waits until then, or until its delivery deadline"
)

# (ctx, conn, config id of the send or None, owner id) → the endpoint, or None if there is none
Resolver = Callable[[AppContext, AsyncConnection, str | None, str], Awaitable[SmtpEndpoint | None]]


def queued_event() -> Event:
    """Published after a send commits with external recipients: wakes the workers."""
    return Event(agent_id=DELIVERY_TOPIC, type="delivery.queued")


async def resolve_endpoint(
    ctx: AppContext, conn: AsyncConnection, config_id: str | None, owner_id: str
) -> SmtpEndpoint | None:
    """The send's own configuration, else the owner's default one (services/smtp_configs)."""
    chosen = config_id or await smtp_configs.default_config_id(conn, owner_id)
    if chosen is None:
        return None
    return await smtp_configs.endpoint_for(ctx, conn, chosen)


async def claim(ctx: AppContext, worker: str, limit: int) -> list[ClaimedRow]:
    """Take up to ``limit`` due rows for ``worker``, under a lease."""
    settings = ctx.settings
    now = now_utc()
    if ctx.db.is_sqlite:
        # A write transaction keeps every other process's writers waiting; a look costs them
        # nothing. Many wake-ups find that an earlier claim took the rows already.
        async with ctx.db.read() as conn:
            if not await repo.any_due(conn, now):
                return []
    async with ctx.db.write(durable=False) as conn:
        return await repo.claim_due(
            conn,
            now=now,
            limit=limit,
            worker=worker,
            lease_until=now + timedelta(seconds=settings.delivery_lease_seconds),
            deadline_at=now + timedelta(seconds=settings.delivery_deadline_seconds),
            skip_locked=not ctx.db.is_sqlite,
        )


async def release(ctx: AppContext, worker: str, ids: list[int]) -> None:
    """Hand back rows this worker claimed but never attempted."""
    if ids:
        async with ctx.db.write(durable=False) as conn:
            await repo.release(conn, ids, worker, now_utc())


async def next_due(ctx: AppContext) -> datetime | None:
    async with ctx.db.read() as conn:
        return await repo.next_due_at(conn)


@dataclass(frozen=True, slots=True)
class Sendable:
    """What a worker needs to send its claimed rows: the raw messages by blob id, and each
    (config id, owner id)'s endpoint or why there is none."""

    blobs: dict[int, bytes]
    targets: dict[tuple[str | None, str], SmtpEndpoint | str]


async def sendable(ctx: AppContext, resolver: Resolver, rows: list[ClaimedRow]) -> Sendable:
    """The messages and endpoints of claimed rows, read on one connection."""
    async with ctx.db.read() as conn:
        blobs = await repo.blobs(conn, [r.blob_id for r in rows])
        keys = {(r.config_id, r.owner_id) for r in rows}
        targets = {key: await _target(ctx, conn, resolver, *key) for key in keys}
    return Sendable(blobs, targets)


async def _target(
    ctx: AppContext, conn: AsyncConnection, resolver: Resolver, config_id: str | None, owner_id: str
) -> SmtpEndpoint | str:
    """The endpoint to send through, or why there is none."""
    try:
        endpoint = await resolver(ctx, conn, config_id, owner_id)
    except AgentPostError as exc:
        return f"SMTP configuration unusable: {exc.message}"
    if endpoint is None and config_id is not None:
        return (
            "the SMTP configuration this send was granted is missing or inactive: "
            "the owner must reactivate it or assign another"
        )
    return endpoint or NO_CONFIGURATION


@dataclass(frozen=True, slots=True)
class RowResult:
    """What became of one recipient: ``delivered``, ``deferred``, ``failed`` or ``waiting``
    (no usable configuration: not an attempt, the row just stays queued)."""

    row: ClaimedRow
    verdict: str
    code: int | None
    reply: str
    next_attempt_at: datetime | None = None
    expired: bool = False


@dataclass(slots=True)
class MessageOutcome:
    """One message's recipients after one SMTP transaction (or the decision not to try)."""

    results: list[RowResult]
    config_id: str | None
    started_at: datetime
    duration_ms: int
    header: bytes  # the original header block, quoted in a bounce


async def record(ctx: AppContext, worker: str, outcomes: list[MessageOutcome]) -> None:
    """Write the outcomes of several messages in one transaction (group commit): a handful
    of statements for the rows whatever their number, then the bounces and the audit rows."""
    now = now_utc()
    events: list[Event] = []
    results = [r for outcome in outcomes for r in outcome.results]
    async with ctx.db.write(durable=False) as conn:
        kept = await _finish(conn, worker, results, now)
        await repo.insert_attempts(
            conn, [row for o in outcomes for row in _attempt_rows(o, kept, worker)]
        )
        mine = [[r for r in o.results if r.row.id in kept] for o in outcomes]
        # Bounces first: they lock folder rows, which come before the audit chain's lock in
        # every transaction (services/send_locks.py).
        for outcome, results_ in zip(outcomes, mine, strict=True):
            failed = [r for r in results_ if r.verdict == "failed"]
            if failed:
                events.append(await _bounce(ctx, conn, outcome, failed, now))
        await audit.record_many(
            ctx, conn, [e for o, m in zip(outcomes, mine, strict=True) for e in _audit(o, m)]
        )
    ctx.events.publish_all(events)


def _values(result: RowResult, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"last_code": result.code, "updated_at": now}
    if result.verdict == "waiting":  # not an attempt: the row just waits in the queue
        return values | {
            "status": "queued",
            "next_attempt_at": result.next_attempt_at,
            "last_error": result.reply,
        }
    values["status"] = result.verdict
    if result.verdict == "delivered":
        return values | {"delivered_at": now, "last_error": None}
    values["last_error"] = result.reply or None
    if result.verdict == "deferred":
        values["next_attempt_at"] = result.next_attempt_at
    return values


def _group_key(result: RowResult) -> tuple[Any, ...]:
    if result.verdict == "delivered":
        return (result.verdict, result.code)  # the 250's text lives in the attempt row only
    return (result.verdict, result.code, result.reply, result.next_attempt_at)


async def _finish(
    conn: AsyncConnection, worker: str, results: list[RowResult], now: datetime
) -> set[int]:
    """Apply every result; rows with the same outcome (all the 250s, typically) share one
    UPDATE. Returns the ids this worker still held."""
    groups: dict[tuple[Any, ...], tuple[RowResult, list[int]]] = {}
    for result in results:
        groups.setdefault(_group_key(result), (result, []))[1].append(result.row.id)
    kept: set[int] = set()
    for sample, ids in groups.values():
        attempted = sample.verdict != "waiting"
        kept |= await repo.finish(conn, ids, worker, _values(sample, now), attempted=attempted)
    return kept


def _attempt_rows(outcome: MessageOutcome, kept: set[int], worker: str) -> list[dict[str, object]]:
    return [
        {
            "delivery_id": r.row.id,
            "attempt": r.row.attempts + 1,
            "started_at": outcome.started_at,
            "duration_ms": outcome.duration_ms,
            "outcome": r.verdict,
            "code": r.code,
            "reply": r.reply[:2000] or None,
            "worker": worker,
        }
        for r in outcome.results
        if r.verdict != "waiting" and r.row.id in kept
    ]


AUDIT_OPERATIONS = {
    "delivered": ("send.delivered", "ok"),
    "deferred": ("send.deferred", "deferred"),
    "failed": ("send.failed", "failed"),
}


def _audit(outcome: MessageOutcome, kept: list[RowResult]) -> list[AuditEntry]:
    """One audit row per verdict the message's recipients got."""
    entries = []
    for verdict, (operation, status) in AUDIT_OPERATIONS.items():
        group = [r for r in kept if r.verdict == verdict]
        if not group:
            continue
        first = group[0]
        entries.append(
            AuditEntry(
                operation,
                status=status,
                owner_id=first.row.owner_id,
                agent_id=first.row.agent_id,
                config_id=outcome.config_id,
                recipients=len(group),
                error=None if verdict == "delivered" else first.reply[:500] or None,
                duration_ms=outcome.duration_ms,
                detail={
                    "messageId": first.row.message_id,
                    "recipients": [r.row.recipient for r in group],
                },
            )
        )
    return entries


async def _bounce(
    ctx: AppContext,
    conn: AsyncConnection,
    outcome: MessageOutcome,
    failed: list[RowResult],
    now: datetime,
) -> Event:
    """File a delivery status notification for the sender; its event for after commit."""
    row = failed[0].row
    raw = build_bounce(
        BounceInput(
            domain=ctx.settings.domain,
            sender=row.sender,
            original_header=outcome.header,
            original_message_id=row.message_id,
            original_subject=row.subject,
            sent_at=outcome.started_at,
            failures=[Failure(r.row.recipient, r.code, r.reply, expired=r.expired) for r in failed],
        ),
        message_id=new_message_id(ctx.settings.domain),
        now=now,
    )
    parsed, inspection = await asyncio.to_thread(_inspect_bounce, raw, now)
    blob_id = await message_repo.insert_blob(conn, raw)
    # Like every other copy put into a mailbox (services/placement.py): the agent's rules
    # and sender reports decide the folder, flags and tags, and the scan row is stored so a
    # read does not scan again.
    place = await placement.place(ctx, conn, row.agent_id, parsed, inspection)
    spec = CopySpec(row.agent_id, place.folder, blob_id, len(raw), parsed, now, place.seen, "in")
    (copy,) = await store_copies(conn, ctx.db.dialect, [spec])
    await placement.after_store(ctx, conn, copy, place, inspection)
    return new_mail_event(copy, parsed.subject, parsed.from_addr.address, parsed.message_id)


def _inspect_bounce(raw: bytes, now: datetime) -> tuple[ParsedMessage, placement.Inspection]:
    """Parse and scan a bounce notice. It is built by this server (MAILER-DAEMON@<domain>),
    so it is internal: scanned as external mail it would count as a forged local sender."""
    parsed = parse_for_index(raw, received=now)
    return parsed, placement.inspect(raw, parsed, internal=True)
