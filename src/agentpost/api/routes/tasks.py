"""Tasks between agents and the synchronous call (RPC).

A task is visible to its two parties only (and to the owner of the agents); another agent's
task id answers 404 ``task_not_found``. Only the assignee may claim a task or submit its
result (403 ``not_task_assignee`` for the assigner). The reference's paths ``/tasks/assign``,
``/tasks/pending`` and ``/tasks/assigned`` are served too, before ``/tasks/{task_id}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Path, Query, Request, status
from pydantic import Field

from agentpost.api.deps import AgentDep, CtxDep, PrincipalDep
from agentpost.api.schemas import ApiModel, UtcDatetime, iso_z
from agentpost.errors import AgentPostError
from agentpost.services import tasks
from agentpost.services.accounts import now_utc
from agentpost.services.tasks import RpcOutcome, aware
from agentpost.storage.repositories.tasks import TaskRecord

router = APIRouter(prefix="/tasks", tags=["tasks"])


class ClientGone(AgentPostError):
    """The caller of a long poll hung up; the answer goes nowhere (nginx's 499)."""

    code = "client_disconnected"
    status = 499


TaskIdPath = Annotated[str, Path(min_length=1, max_length=64, description="The task's id.")]


class TaskCreate(ApiModel):
    assignee: str = Field(min_length=1, description="Name of the agent that should do it.")
    task_type: str = Field(default="generic", min_length=1, max_length=64)
    payload: dict[str, Any] | None = None
    expires_in_seconds: int | None = Field(default=None, ge=1, le=tasks.MAX_EXPIRY_SECONDS)


class ResultCreate(ApiModel):
    result: Any = None


class RpcCreate(ApiModel):
    target: str = Field(min_length=1, description="Name of the agent to call.")
    task: str = Field(min_length=1, description="What the target should do.")
    payload: dict[str, Any] | None = None
    timeout: int = Field(default=tasks.RPC_DEFAULT_TIMEOUT, ge=5, le=300)


class TaskPublic(ApiModel):
    id: str
    task_type: str
    status: str
    assignee: str
    assignee_id: str
    assigner: str
    assigner_id: str | None
    payload: Any
    result: Any = None
    error: str | None = None
    created_at: UtcDatetime
    claimed_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    expires_at: UtcDatetime | None = None


class TasksPublic(ApiModel):
    tasks: list[TaskPublic]
    count: int


class RpcPublic(ApiModel):
    task_id: str
    status: str
    result: Any = None
    message: str | None = None
    task: TaskPublic


def task_of(task: TaskRecord) -> TaskPublic:
    status_now = task.status
    expires = aware(task.expires_at)
    if status_now in ("pending", "claimed") and expires is not None and expires <= _now():
        status_now = "expired"  # expiry is enforced on every change; show it at once too
    return TaskPublic(
        id=task.id,
        task_type=task.task_type,
        status=status_now,
        assignee=task.assignee_name,
        assignee_id=task.assignee_id,
        assigner=task.assigner_name,
        assigner_id=task.assigner_id,
        payload=task.payload,
        result=task.result,
        error=task.error,
        created_at=task.created_at,
        claimed_at=task.claimed_at,
        completed_at=task.completed_at,
        expires_at=task.expires_at,
    )


def _now() -> datetime:
    return now_utc()


def _listing(found: list[TaskRecord]) -> TasksPublic:
    return TasksPublic(tasks=[task_of(t) for t in found], count=len(found))


async def _assign(ctx: CtxDep, principal: PrincipalDep, body: TaskCreate) -> TaskPublic:
    task = await tasks.assign_task(
        ctx,
        principal,
        assignee=body.assignee,
        task_type=body.task_type,
        payload=body.payload,
        expires_in=body.expires_in_seconds,
    )
    return task_of(task)


@router.post("", status_code=status.HTTP_201_CREATED)
async def assign_task(ctx: CtxDep, principal: PrincipalDep, body: TaskCreate) -> TaskPublic:
    """Assign a task to an agent of the same owner; it gets a ``task.assigned`` event."""
    return await _assign(ctx, principal, body)


@router.post("/assign", status_code=status.HTTP_201_CREATED)
async def assign_task_compat(ctx: CtxDep, principal: PrincipalDep, body: TaskCreate) -> TaskPublic:
    """The reference's path for ``POST /tasks``."""
    return await _assign(ctx, principal, body)


@router.get("")
async def list_tasks(
    ctx: CtxDep,
    principal: PrincipalDep,
    direction: Annotated[Literal["incoming", "outgoing"], Query()] = "incoming",
) -> TasksPublic:
    """``incoming``: the agent's open tasks, oldest first. ``outgoing``: tasks the caller
    assigned, newest first, in every state."""
    if direction == "incoming":
        return _listing(await tasks.incoming_tasks(ctx, principal.require_agent()))
    return _listing(await tasks.outgoing_tasks(ctx, principal))


@router.get("/pending")
async def pending_tasks(ctx: CtxDep, agent: AgentDep) -> TasksPublic:
    """The reference's path for ``GET /tasks?direction=incoming``."""
    return _listing(await tasks.incoming_tasks(ctx, agent))


@router.get("/assigned")
async def assigned_tasks(ctx: CtxDep, principal: PrincipalDep) -> TasksPublic:
    """The reference's path for ``GET /tasks?direction=outgoing``."""
    return _listing(await tasks.outgoing_tasks(ctx, principal))


@router.post("/rpc")
async def call_agent(
    request: Request, ctx: CtxDep, principal: PrincipalDep, body: RpcCreate
) -> RpcPublic:
    """Assign an ``rpc`` task and hold the request open until its result arrives (up to
    ``timeout`` seconds, 5-300). On timeout the answer says so and the task stays claimable."""
    outcome: RpcOutcome | None = None
    async with anyio.create_task_group() as group:

        async def watch_disconnect() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        outcome = await tasks.call_agent(
            ctx,
            principal,
            target=body.target,
            task=body.task,
            payload=body.payload,
            timeout=body.timeout,
        )
        group.cancel_scope.cancel()
    if outcome is None:  # the caller hung up; nobody reads this
        raise ClientGone("the client disconnected before the call finished")
    return _rpc_of(outcome, body.timeout)


def _rpc_of(outcome: RpcOutcome, timeout: int) -> RpcPublic:
    task = task_of(outcome.task)
    if outcome.status == "timeout":
        when = f" (expires {iso_z(outcome.task.expires_at)})" if outcome.task.expires_at else ""
        message = (
            f"Task not completed within {timeout}s; it is still {task.status}{when} and can "
            f"be claimed. Check it later with GET /tasks/{task.id}."
        )
        return RpcPublic(task_id=task.id, status="timeout", message=message, task=task)
    return RpcPublic(task_id=task.id, status=outcome.status, result=task.result, task=task)


@router.get("/{task_id}")
async def read_task(ctx: CtxDep, principal: PrincipalDep, task_id: TaskIdPath) -> TaskPublic:
    """One task the caller is a party to."""
    return task_of(await tasks.get_task(ctx, principal, task_id))


@router.post("/{task_id}/claim")
async def claim_task(ctx: CtxDep, principal: PrincipalDep, task_id: TaskIdPath) -> TaskPublic:
    """The assignee takes a pending task (409 if it is no longer pending, 410 if expired)."""
    return task_of(await tasks.claim_task(ctx, principal, task_id))


@router.post("/{task_id}/result")
async def submit_result(
    ctx: CtxDep, principal: PrincipalDep, task_id: TaskIdPath, body: ResultCreate | None = None
) -> TaskPublic:
    """The assignee completes the task with its result; the assigner gets ``task.completed``
    and a waiting ``/tasks/rpc`` call returns it."""
    result = body.result if body is not None else None
    return task_of(await tasks.submit_result(ctx, principal, task_id, result))
