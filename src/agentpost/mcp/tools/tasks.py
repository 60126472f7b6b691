"""Task tools: assign_task, check_tasks, claim_task, submit_result and call_agent (RPC).

Only the assignee of a task can claim it or submit its result; only the two agents involved
see it. call_agent waits for the result (5-300 s) and leaves the task claimable on timeout.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from agentpost.client.workflow import Task
from agentpost.mcp.registry import ToolArgs, ToolContext, ToolFailure, tool

PAYLOAD_PREVIEW = 100


class AssignTaskArgs(ToolArgs):
    assignee: str = Field(min_length=1, description="Name of the agent that should do it.")
    task_type: str = Field(
        default="generic", min_length=1, max_length=64, description="Kind of task."
    )
    payload: dict[str, Any] | None = Field(default=None, description="Details, as an object.")
    expires_in_seconds: int | None = Field(
        default=None,
        ge=1,
        le=2_592_000,
        description="Expire the task if not completed within this many seconds (up to 30 days).",
    )


class CheckTasksArgs(ToolArgs):
    direction: Literal["incoming", "outgoing"] = Field(
        default="incoming",
        description="incoming: tasks assigned to you; outgoing: tasks you assigned.",
    )
    assignee: str | None = Field(
        default=None, description="For incoming: your own name (other agents' are private)."
    )


class TaskIdArgs(ToolArgs):
    id: str = Field(min_length=1, description="The task id.")


class SubmitResultArgs(ToolArgs):
    id: str = Field(min_length=1, description="The task id.")
    result: dict[str, Any] | None = Field(default=None, description="The result, as an object.")


class CallAgentArgs(ToolArgs):
    target: str = Field(min_length=1, description="Name of the agent to call.")
    task: str = Field(min_length=1, description="What the agent should do.")
    payload: dict[str, Any] | None = Field(default=None, description="Details, as an object.")
    timeout: int = Field(default=180, ge=5, le=300, description="Seconds to wait (5-300).")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _line(task: Task) -> str:
    payload = _json(task.payload)[:PAYLOAD_PREVIEW]
    parties = f"from {task.assigner} to {task.assignee}"
    return f"  [{task.id}] {task.task_type} — status: {task.status}, {parties}, payload: {payload}"


@tool(AssignTaskArgs)
async def assign_task(ctx: ToolContext, args: AssignTaskArgs) -> str:
    """Assign a task to another agent; it is told at once and only the two of you see it."""
    task = await ctx.client.assign_task(
        args.assignee,
        task_type=args.task_type,
        payload=args.payload,
        expires_in_seconds=args.expires_in_seconds,
    )
    return f"Task assigned to {task.assignee}. Task ID: {task.id}"


@tool(CheckTasksArgs, read_only=True)
async def check_tasks(ctx: ToolContext, args: CheckTasksArgs) -> str:
    """List tasks: incoming (assigned to you and still open) or outgoing (assigned by you)."""
    if args.direction == "incoming" and args.assignee:
        me = await ctx.client.me()
        if args.assignee.lower() != me.name.lower():
            raise ToolFailure("tasks are private: you can only list your own incoming tasks")
    tasks = await ctx.client.list_tasks(args.direction)
    if not tasks:
        return "No pending tasks." if args.direction == "incoming" else "No tasks assigned by you."
    return "\n".join([f"{len(tasks)} tasks:", *(_line(t) for t in tasks)])


@tool(TaskIdArgs)
async def claim_task(ctx: ToolContext, args: TaskIdArgs) -> str:
    """Claim a task assigned to you before working on it."""
    task = await ctx.client.claim_task(args.id)
    return (
        f"Task {task.id} claimed. Type: {task.task_type}. From: {task.assigner}.\n"
        f"Payload: {_json(task.payload)}\nWhen done, call submit_result with its id."
    )


@tool(SubmitResultArgs)
async def submit_result(ctx: ToolContext, args: SubmitResultArgs) -> str:
    """Complete a task assigned to you with its result; the assigner is told at once."""
    task = await ctx.client.submit_result(args.id, args.result)
    return f"Result submitted for task {task.id}. Status: {task.status}"


@tool(CallAgentArgs)
async def call_agent(ctx: ToolContext, args: CallAgentArgs) -> str:
    """Ask another agent to do something and wait for its answer (up to timeout seconds,
    5-300). On timeout the task stays open; check it later with check_tasks."""
    outcome = await ctx.client.call_agent(
        args.target, args.task, payload=args.payload, timeout=args.timeout
    )
    if outcome.status == "completed":
        done = f"{outcome.task.assignee} completed task {outcome.task_id}."
        return f"{done}\nResult: {_json(outcome.result)}"
    if outcome.status == "timeout":
        return f"Timed out: {outcome.message}"
    return f"Task {outcome.task_id} ended as {outcome.status}: {outcome.task.error or 'no result'}"


TOOLS = (assign_task, check_tasks, claim_task, submit_result, call_agent)
