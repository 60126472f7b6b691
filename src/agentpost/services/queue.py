"""The delivery queue as people see and steer it.

An agent sees the per-recipient delivery of its own sent messages (``message_delivery``);
owners and the admin list the queue and act on it: ``retry_now`` makes waiting rows due at
once, ``requeue`` gives failed rows a fresh deadline, ``cancel`` fails waiting rows for good.
Every operator action is audited and wakes the delivery workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentpost.domain.folders import SENT, canonical_folder
from agentpost.errors import InvalidInput, MessageNotFound
from agentpost.services import audit
from agentpost.services import delivery as delivery_service
from agentpost.services.accounts import Principal, PrincipalKind, find_agent, now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord, DeliveryRecord
from agentpost.storage.repositories import delivery as repo
from agentpost.storage.repositories.delivery import AttemptRecord, QueueFilter, QueueRow

STATUSES = ("queued", "sending", "deferred", "delivered", "failed", "held")
MAX_LIST = 1000


@dataclass(frozen=True, slots=True)
class RecipientDelivery:
    record: DeliveryRecord
    history: list[AttemptRecord]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    uid: int
    folder: str
    recipients: list[RecipientDelivery]

    @property
    def status(self) -> str:
        """``delivered`` when every recipient is; else the most pressing open state."""
        states = {r.record.status for r in self.recipients}
        for state in ("sending", "queued", "deferred", "held"):
            if state in states:
                return "pending" if state != "held" else "held"
        if states == {"delivered"}:
            return "delivered"
        return "failed" if states == {"failed"} else "partial"


async def message_delivery(
    ctx: AppContext, agent: AgentRecord, uid: int, folder: str = SENT
) -> DeliveryReport:
    """Per-recipient delivery of ``agent``'s message ``uid`` in ``folder`` (default Sent)."""
    name = canonical_folder(folder)
    async with ctx.db.read() as conn:
        row_id = await repo.sent_row_id(conn, agent.id, name, uid)
        if row_id is None:
            raise MessageNotFound(f"no message with UID {uid} in {name}")
        records = await repo.deliveries_for(conn, row_id)
        history = await repo.attempts_for(conn, [r.id for r in records])
    if not records:
        raise MessageNotFound(
            f"UID {uid} in {name} is not a message this agent sent: it has no delivery record"
        )
    return DeliveryReport(
        uid=uid,
        folder=name,
        recipients=[RecipientDelivery(r, history.get(r.id, [])) for r in records],
    )


@dataclass(frozen=True, slots=True)
class QueueSelection:
    """Which rows an operator means: explicit ids, or everything matching the filters."""

    ids: tuple[int, ...] = ()
    agent: str | None = None
    statuses: tuple[str, ...] = ()
    everything: bool = False


async def _filter(ctx: AppContext, principal: Principal, sel: QueueSelection) -> QueueFilter:
    principal.require_admin_or_owner()
    unknown = sorted(set(sel.statuses) - set(STATUSES))
    if unknown:
        raise InvalidInput(
            f"unknown status {', '.join(unknown)}: use {', '.join(STATUSES)}", field="status"
        )
    agent_id = None
    if sel.agent:
        agent_id = (await find_agent(ctx, principal, sel.agent)).id
    owner_id = None if principal.kind is PrincipalKind.admin else principal.owner_id
    return QueueFilter(owner_id=owner_id, agent_id=agent_id, statuses=sel.statuses, ids=sel.ids)


async def list_queue(
    ctx: AppContext, principal: Principal, sel: QueueSelection, *, limit: int = 100
) -> list[QueueRow]:
    """External delivery rows the principal may see, newest first."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}", field="limit")
    flt = await _filter(ctx, principal, sel)
    async with ctx.db.read() as conn:
        return await repo.list_queue(conn, flt, limit)


async def retry_now(ctx: AppContext, principal: Principal, sel: QueueSelection) -> int:
    """Make queued and deferred rows due now; returns how many changed."""
    now = now_utc()
    values: dict[str, object] = {"next_attempt_at": now, "updated_at": now}
    return await _change(ctx, principal, sel, ("queued", "deferred"), values, "queue.retried")


async def requeue(ctx: AppContext, principal: Principal, sel: QueueSelection) -> int:
    """Failed rows go back to ``queued``, due now, with a fresh deadline from their next
    claim; returns how many changed."""
    now = now_utc()
    values: dict[str, object] = {
        "status": "queued",
        "next_attempt_at": now,
        "deadline_at": None,
        "delivered_at": None,
        "updated_at": now,
    }
    return await _change(ctx, principal, sel, ("failed",), values, "queue.requeued")


async def cancel(ctx: AppContext, principal: Principal, sel: QueueSelection) -> int:
    """Stop queued and deferred rows for good: they fail with a reason that says so (rows
    being sent this moment finish their attempt). Returns how many changed."""
    now = now_utc()
    values: dict[str, object] = {
        "status": "failed",
        "last_error": "cancelled by the owner before delivery",
        "last_code": None,
        "updated_at": now,
    }
    return await _change(ctx, principal, sel, ("queued", "deferred"), values, "queue.cancelled")


async def _change(
    ctx: AppContext,
    principal: Principal,
    sel: QueueSelection,
    from_statuses: tuple[str, ...],
    values: dict[str, object],
    operation: str,
) -> int:
    if not sel.ids and not sel.everything:
        raise InvalidInput("name the delivery ids to change, or ask for all of them", field="ids")
    flt = await _filter(ctx, principal, sel)
    async with ctx.db.write() as conn:
        ids = await repo.matching_ids(conn, flt)
        changed = await repo.reschedule(conn, ids, from_statuses, values)
        await audit.record(
            ctx,
            conn,
            AuditEntry(
                operation,
                owner_id=principal.owner_id,
                recipients=changed,
                detail={"ids": list(sel.ids)[:100], "agent": sel.agent, "all": sel.everything},
            ),
        )
    if changed:
        ctx.events.publish(delivery_service.queued_event())
    return changed
