"""Tasks between agents, and call_agent: a task whose caller waits for the result (RPC).

Unlike the reference implementation, a task is private to its two parties: only they (and
the owner of the agents) can see it, only the assignee may claim it or submit its result, an
expiry is enforced, and task events go to the agents involved, never to everyone:

    task.assigned   → the assignee
    task.claimed    → the assigner
    task.completed  → the assigner
    task.expired    → both

Every event is also published on the task's own channel (``task:<id>``, never an agent id),
which is what a waiting ``call_agent`` listens to; the event bus carries it to other server
processes, so the caller wakes whichever process took the result. A poll of the
row every few seconds covers an event lost between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.errors import (
    InvalidInput,
    NotTaskAssignee,
    TaskExpired,
    TaskNotFound,
    TaskStateConflict,
)
from agentpost.services import accounts
from agentpost.services.accounts import Principal, PrincipalKind, now_utc
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import tasks as repo
from agentpost.storage.repositories.tasks import OPEN, TaskRecord

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_RESULT_BYTES = 256 * 1024
MAX_EXPIRY_SECONDS = 30 * 24 * 3600
MAX_LISTED = 100
RPC_TIMEOUT_RANGE = (5, 300)
RPC_DEFAULT_TIMEOUT = 180
RPC_POLL_SECONDS = 3.0
_TASK_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True, slots=True)
class RpcOutcome:
    """What call_agent got: the task as it stands and ``completed`` or ``timeout``."""

    task: TaskRecord
    status: str


def channel(task_id: str) -> str:
    """The event-bus key of one task (not an agent id, so no agent stream can subscribe)."""
    return f"task:{task_id}"


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def is_overdue(task: TaskRecord, now: datetime) -> bool:
    expires = aware(task.expires_at)
    return task.status in OPEN and expires is not None and expires <= now


def _json_size(value: Any, field: str, limit: int) -> None:
    try:
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field} must be JSON", field=field) from exc
    if size > limit:
        raise InvalidInput(f"{field} must be at most {limit // 1024} KB of JSON", field=field)


def _check_new(task_type: str, payload: Any, expires_in: int | None) -> None:
    if not isinstance(task_type, str) or not _TASK_TYPE.match(task_type):
        raise InvalidInput(
            "taskType is 1-64 letters, digits, '_', '.', ':' or '-' (default generic)",
            field="taskType",
        )
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object", field="payload")
    _json_size(payload, "payload", MAX_PAYLOAD_BYTES)
    if expires_in is not None and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not 1 <= expires_in <= MAX_EXPIRY_SECONDS
    ):
        raise InvalidInput(
            f"expiresInSeconds must be a whole number from 1 to {MAX_EXPIRY_SECONDS} (30 days)",
            field="expiresInSeconds",
        )


def _event(task: TaskRecord, kind: str, agent_id: str) -> Event:
    data: dict[str, Any] = {
        "taskId": task.id,
        "taskType": task.task_type,
        "status": task.status,
        "assignee": task.assignee_name,
        "from": task.assigner_name,
    }
    if task.task_type == "rpc" and isinstance(task.payload, dict):
        data["task"] = task.payload.get("task")
    return Event(agent_id=agent_id, type=f"task.{kind}", data=data)


def _events(task: TaskRecord, kind: str) -> list[Event]:
    """The event of ``kind`` for the parties it concerns, and for the task's own channel."""
    if kind == "assigned":
        parties: list[str | None] = [task.assignee_id]
    elif kind == "expired":
        parties = [task.assignee_id, task.assigner_id]
    else:
        parties = [task.assigner_id]
    targets = [p for p in dict.fromkeys(parties) if p is not None]
    return [_event(task, kind, target) for target in [*targets, channel(task.id)]]


def _assigner(principal: Principal) -> tuple[str | None, str]:
    if principal.agent is not None:
        return principal.agent.id, principal.agent.name
    return None, principal.kind.value


async def assign_task(
    ctx: AppContext,
    principal: Principal,
    *,
    assignee: str,
    task_type: str = "generic",
    payload: dict[str, Any] | None = None,
    expires_in: int | None = None,
    task_id: str | None = None,
) -> TaskRecord:
    """Give an agent of the same owner a task; it hears of it through a task.assigned event."""
    payload = {} if payload is None else payload
    _check_new(task_type, payload, expires_in)
    target = await accounts.find_agent(ctx, principal, assignee)
    now = now_utc()
    assigner_id, assigner_name = _assigner(principal)
    task = TaskRecord(
        id=task_id or str(uuid.uuid4()),
        owner_id=target.owner_id,
        assigner_id=assigner_id,
        assigner_name=assigner_name,
        assignee_id=target.id,
        assignee_name=target.name,
        task_type=task_type,
        payload=payload,
        status="pending",
        result=None,
        error=None,
        created_at=now,
        claimed_at=None,
        completed_at=None,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
    )
    async with ctx.db.write() as conn:
        await repo.insert_task(conn, task)
    ctx.events.publish_all(_events(task, "assigned"))
    return task


def _visible(principal: Principal, task: TaskRecord) -> bool:
    if principal.agent is not None:
        return principal.agent.id in (task.assignee_id, task.assigner_id)
    return principal.kind is PrincipalKind.admin or principal.owner_id == task.owner_id


async def _load(conn: AsyncConnection, principal: Principal, task_id: str) -> TaskRecord:
    task = await repo.task_by_id(conn, task_id)
    if task is None or not _visible(principal, task):
        raise TaskNotFound(f"no task with id {task_id}; check_tasks lists yours")
    return task


async def get_task(ctx: AppContext, principal: Principal, task_id: str) -> TaskRecord:
    async with ctx.db.read() as conn:
        task = await _load(conn, principal, task_id)
    if is_overdue(task, now_utc()):
        await expire_overdue(ctx, agent_id=task.assignee_id)
        task = replace(task, status="expired")
    return task


async def expire_overdue(ctx: AppContext, *, agent_id: str | None = None) -> int:
    """Mark open tasks past their expiry as expired and tell both parties. The listing and
    state-changing calls run it for the agent at hand; a scheduler may run it for everyone."""
    now = now_utc()
    async with ctx.db.read() as conn:
        ids = await repo.overdue(conn, now, agent_id=agent_id)
    if not ids:
        return 0
    expired: list[TaskRecord] = []
    async with ctx.db.write() as conn:
        for task_id in ids:
            if await repo.transition(
                conn, task_id, from_statuses=OPEN, values={"status": "expired"}
            ):
                task = await repo.task_by_id(conn, task_id)
                if task is not None:
                    expired.append(task)
    for task in expired:
        ctx.events.publish_all(_events(task, "expired"))
    return len(expired)


async def incoming_tasks(ctx: AppContext, agent: AgentRecord) -> list[TaskRecord]:
    """The agent's open tasks (pending or claimed), oldest first."""
    await expire_overdue(ctx, agent_id=agent.id)
    async with ctx.db.read() as conn:
        return await repo.incoming(conn, agent.id, limit=MAX_LISTED)


async def outgoing_tasks(ctx: AppContext, principal: Principal) -> list[TaskRecord]:
    """Tasks the caller assigned, newest first, in every state."""
    agent_id = principal.agent.id if principal.agent is not None else None
    if agent_id is not None:
        await expire_overdue(ctx, agent_id=agent_id)
    async with ctx.db.read() as conn:
        return await repo.outgoing(
            conn, assigner_id=agent_id, owner_id=principal.owner_id, limit=MAX_LISTED
        )


async def _change(
    ctx: AppContext, principal: Principal, task_id: str, *, verb: str, allowed: tuple[str, ...]
) -> TaskRecord:
    """Load a task for a state change by its assignee: 404 if the caller cannot see it, 403
    if it is not the assignee, 410 if it expired, 409 if its state does not allow ``verb``."""
    agent = principal.require_agent()
    async with ctx.db.read() as conn:
        task = await _load(conn, principal, task_id)
    if task.assignee_id != agent.id:
        raise NotTaskAssignee(
            f"only {task.assignee_name}, the agent this task is assigned to, may {verb} it"
        )
    if is_overdue(task, now_utc()):
        await expire_overdue(ctx, agent_id=agent.id)
        raise TaskExpired(f"task {task_id} expired at {aware(task.expires_at)}; it can't change")
    if task.status == "expired":
        raise TaskExpired(f"task {task_id} has expired; it can no longer change")
    if task.status not in allowed:
        raise TaskStateConflict(f"task {task_id} is already {task.status}; it can't be {verb}ed")
    return task


async def claim_task(ctx: AppContext, principal: Principal, task_id: str) -> TaskRecord:
    """The assignee takes a pending task; its assigner hears of it (task.claimed)."""
    await _change(ctx, principal, task_id, verb="claim", allowed=("pending",))
    now = now_utc()
    async with ctx.db.write() as conn:
        changed = await repo.transition(
            conn,
            task_id,
            from_statuses=("pending",),
            values={"status": "claimed", "claimed_at": now},
        )
        task = await repo.task_by_id(conn, task_id)
    if not changed or task is None:
        raise TaskStateConflict(f"task {task_id} was claimed or changed a moment ago")
    ctx.events.publish_all(_events(task, "claimed"))
    return task


async def submit_result(
    ctx: AppContext, principal: Principal, task_id: str, result: Any = None
) -> TaskRecord:
    """The assignee completes a task with its result (claiming it first is optional)."""
    _json_size(result, "result", MAX_RESULT_BYTES)
    await _change(ctx, principal, task_id, verb="complete", allowed=OPEN)
    now = now_utc()
    async with ctx.db.write() as conn:
        current = await repo.task_by_id(conn, task_id)
        changed = current is not None and await repo.transition(
            conn,
            task_id,
            from_statuses=OPEN,
            values={
                "status": "completed",
                "result": result,
                "completed_at": now,
                "claimed_at": current.claimed_at or now,
            },
        )
        task = await repo.task_by_id(conn, task_id)
    if not changed or task is None:
        raise TaskStateConflict(f"task {task_id} was completed or changed a moment ago")
    ctx.events.publish_all(_events(task, "completed"))
    return task


def check_rpc_timeout(timeout: int | None) -> int:
    low, high = RPC_TIMEOUT_RANGE
    if timeout is None:
        return RPC_DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not low <= timeout <= high:
        raise InvalidInput(f"timeout must be {low}-{high} seconds", field="timeout")
    return timeout


async def call_agent(
    ctx: AppContext,
    principal: Principal,
    *,
    target: str,
    task: str,
    payload: dict[str, Any] | None = None,
    timeout: int | None = None,
) -> RpcOutcome:
    """Assign an ``rpc`` task and wait for its result up to ``timeout`` seconds. On timeout
    the task stays as it is (pending or claimed), so the target can still finish it later."""
    seconds = check_rpc_timeout(timeout)
    if not isinstance(task, str) or not task.strip():
        raise InvalidInput("task (what the target should do) is required", field="task")
    if payload is not None and not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object", field="payload")
    task_id = str(uuid.uuid4())
    # Subscribe before the task exists, so even an instant answer is not missed.
    async with ctx.events.subscribe(channel(task_id)) as queue:
        record = await assign_task(
            ctx,
            principal,
            assignee=target,
            task_type="rpc",
            payload={**(payload or {}), "task": task.strip()},
            task_id=task_id,
        )
        finished = await _wait_done(ctx, queue, record.id, seconds)
    if finished is not None:
        return RpcOutcome(finished, finished.status)
    async with ctx.db.read() as conn:
        latest = await repo.task_by_id(conn, task_id)
    return RpcOutcome(latest or record, "timeout")


async def _wait_done(
    ctx: AppContext, queue: asyncio.Queue[Event], task_id: str, seconds: float
) -> TaskRecord | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        # On a quiet timeout, poll the row anyway: an event relayed from another process
        # may have been lost.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.get(), min(remaining, RPC_POLL_SECONDS))
        async with ctx.db.read() as conn:
            current = await repo.task_by_id(conn, task_id)
        if current is not None and current.status in ("completed", "failed", "expired"):
            return current
    return None
