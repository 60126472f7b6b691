"""Client calls of the workflow area: tags, rules, agent messages, tasks and RPC."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import Field

from agentpost.client.base import DEFAULT_TIMEOUT, WAIT_GRACE, ClientBase, compact, segment
from agentpost.client.models import Model, SendResult
from agentpost.client.pending import PendingReminder


class Tag(Model):
    id: str
    name: str
    color: str = "#888888"
    created_at: datetime | None = None


class TaggedMessage(Model):
    uid: int
    folder: str
    subject: str = ""
    from_: str = Field(default="", alias="from")
    date: datetime | None = None


class TagMessages(Model):
    tag: Tag
    messages: list[TaggedMessage]
    total: int


class Rule(Model):
    id: str
    name: str
    priority: int = 0
    enabled: bool = True
    conditions: dict[str, Any] = {}
    actions: dict[str, Any] = {}
    created_at: datetime | None = None


class AgentMessageSent(Model):
    to: str
    agent: str
    subject: str
    sent: SendResult


class UnreadMessage(Model):
    uid: int
    from_: str = Field(default="", alias="from")
    from_name: str = ""
    subject: str = ""
    date: datetime | None = None
    source: str = "external"


class UnreadSummary(Model):
    messages: list[UnreadMessage]
    total: int


class MessageCheck(UnreadSummary):
    reminders: list[PendingReminder] = []  # held-mail reminders that fell due, handed out once


class Task(Model):
    id: str
    task_type: str
    status: str
    assignee: str
    assignee_id: str
    assigner: str
    assigner_id: str | None = None
    payload: Any = None
    result: Any = None
    error: str | None = None
    created_at: datetime | None = None
    claimed_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None


class RpcResult(Model):
    task_id: str
    status: str
    result: Any = None
    message: str | None = None
    task: Task


class WorkflowCalls(ClientBase):
    """Tags, rules, agent messages and tasks (docs/api/workflow.md)."""

    # -- tags -------------------------------------------------------------------------------

    async def tags(self) -> list[Tag]:
        data = await self._json("GET", "/tags")
        return [Tag.model_validate(item) for item in data["tags"]]

    async def create_tag(self, name: str, *, color: str | None = None) -> Tag:
        body = compact({"name": name, "color": color})
        return Tag.model_validate(await self._json("POST", "/tags", json_body=body))

    async def delete_tag(self, tag_id: str) -> None:
        await self._send("DELETE", f"/tags/{segment(tag_id)}")

    async def tag_message(self, tag_id: str, uid: int, *, folder: str | None = None) -> None:
        body = compact({"uid": uid, "folder": folder})
        await self._send("POST", f"/tags/{segment(tag_id)}/messages", json_body=body)

    async def untag_message(self, tag_id: str, uid: int, *, folder: str | None = None) -> bool:
        data = await self._json(
            "DELETE", f"/tags/{segment(tag_id)}/messages/{uid}", params={"folder": folder}
        )
        return bool(data.get("removed"))

    async def tag_messages(
        self, tag_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> TagMessages:
        params = {"limit": limit, "offset": offset}
        data = await self._json("GET", f"/tags/{segment(tag_id)}/messages", params=params)
        return TagMessages.model_validate(data)

    async def message_tags(self, uid: int, *, folder: str | None = None) -> list[Tag]:
        data = await self._json("GET", f"/messages/{uid}/tags", params={"folder": folder})
        return [Tag.model_validate(item) for item in data["tags"]]

    # -- rules ------------------------------------------------------------------------------

    async def rules(self) -> list[Rule]:
        data = await self._json("GET", "/rules")
        return [Rule.model_validate(item) for item in data["rules"]]

    async def create_rule(
        self,
        name: str,
        *,
        actions: Mapping[str, Any],
        conditions: Mapping[str, Any] | None = None,
        priority: int | None = None,
        enabled: bool | None = None,
    ) -> Rule:
        body = compact(
            {
                "name": name,
                "conditions": dict(conditions) if conditions is not None else None,
                "actions": dict(actions),
                "priority": priority,
                "enabled": enabled,
            }
        )
        return Rule.model_validate(await self._json("POST", "/rules", json_body=body))

    async def delete_rule(self, rule_id: str) -> None:
        await self._send("DELETE", f"/rules/{segment(rule_id)}")

    # -- agent messages ---------------------------------------------------------------------

    async def message_agent(
        self, agent: str, subject: str, text: str, *, priority: str | None = None
    ) -> AgentMessageSent:
        body = compact({"agent": agent, "subject": subject, "text": text, "priority": priority})
        data = await self._json("POST", "/agent-messages", json_body=body)
        return AgentMessageSent.model_validate(data)

    async def unread_messages(self, *, limit: int | None = None) -> UnreadSummary:
        data = await self._json("GET", "/agent-messages/unread", params={"limit": limit})
        return UnreadSummary.model_validate(data)

    async def check_messages(self, *, limit: int | None = None) -> MessageCheck:
        """POST /agent-messages/check: the unread summary plus the due reminders of held mail
        (claimed: each comes once)."""
        data = await self._json("POST", "/agent-messages/check", params={"limit": limit})
        return MessageCheck.model_validate(data)

    # -- tasks ------------------------------------------------------------------------------

    async def assign_task(
        self,
        assignee: str,
        *,
        task_type: str | None = None,
        payload: Mapping[str, Any] | None = None,
        expires_in_seconds: int | None = None,
    ) -> Task:
        body = compact(
            {
                "assignee": assignee,
                "taskType": task_type,
                "payload": dict(payload) if payload is not None else None,
                "expiresInSeconds": expires_in_seconds,
            }
        )
        return Task.model_validate(await self._json("POST", "/tasks", json_body=body))

    async def list_tasks(self, direction: str = "incoming") -> list[Task]:
        data = await self._json("GET", "/tasks", params={"direction": direction})
        return [Task.model_validate(item) for item in data["tasks"]]

    async def task(self, task_id: str) -> Task:
        return Task.model_validate(await self._json("GET", f"/tasks/{segment(task_id)}"))

    async def claim_task(self, task_id: str) -> Task:
        data = await self._json("POST", f"/tasks/{segment(task_id)}/claim")
        return Task.model_validate(data)

    async def submit_result(self, task_id: str, result: Any = None) -> Task:
        data = await self._json(
            "POST", f"/tasks/{segment(task_id)}/result", json_body={"result": result}
        )
        return Task.model_validate(data)

    async def call_agent(
        self,
        target: str,
        task: str,
        *,
        payload: Mapping[str, Any] | None = None,
        timeout: int | None = None,
    ) -> RpcResult:
        """Hold the call open until the target submits a result or ``timeout`` seconds pass
        (server default 180)."""
        body = compact(
            {
                "target": target,
                "task": task,
                "payload": dict(payload) if payload is not None else None,
                "timeout": timeout,
            }
        )
        patience = httpx.Timeout(DEFAULT_TIMEOUT, read=(timeout or 180) + WAIT_GRACE)
        data = await self._json("POST", "/tasks/rpc", json_body=body, timeout=patience)
        return RpcResult.model_validate(data)
