"""Client calls for held outbound mail and the guard policy (docs/api/guard.md), mixed into
``AgentPostClient``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentpost.client.base import ClientBase, compact, segment
from agentpost.client.models import GuardFinding, Model, SendResult


class HeldMessage(Model):
    text: str = ""
    preview: str = ""
    cc: list[str] = []
    attachments: list[str] = []


class PendingItem(Model):
    id: str
    agent_id: str = ""
    status: str
    to: list[str] = []
    subject: str = ""
    message_id: str = ""
    warnings: list[GuardFinding] = []
    summary: str = ""
    content_hash: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    next_reminder_at: datetime | None = None
    message: HeldMessage | None = None
    owner_notice: str | None = None  # detail only: the owner's approval request by mail


class PendingReminder(Model):
    pending_id: str
    label: str = ""
    subject: str = ""
    to: list[str] = []
    due_at: datetime | None = None
    next_reminder_at: datetime | None = None
    created_at: datetime | None = None


class GuardPolicy(Model):
    agent: str = ""
    actions: dict[str, dict[str, str]] = {}
    allow_domains: list[str] = []
    disabled_rules: list[str] = []


class PendingCalls(ClientBase):
    async def list_pending(
        self, *, status: str | None = None, limit: int | None = None
    ) -> list[PendingItem]:
        """GET /pending: held messages (an agent sees its own), newest first."""
        data = await self._json("GET", "/pending", params={"status": status, "limit": limit})
        return [PendingItem.model_validate(item) for item in data["pending"]]

    async def get_pending(self, pending_id: str) -> PendingItem:
        """GET /pending/{id}: one held message with its content and contentHash."""
        return PendingItem.model_validate(
            await self._json("GET", f"/pending/{segment(pending_id)}")
        )

    async def approve_pending(
        self, pending_id: str, *, content_hash: str | None = None
    ) -> SendResult:
        """POST /pending/{id}/approve (owner or master key): send it as held."""
        body: dict[str, Any] = compact({"contentHash": content_hash})
        data = await self._json("POST", f"/pending/{segment(pending_id)}/approve", json_body=body)
        return SendResult.model_validate(data)

    async def reject_pending(self, pending_id: str) -> PendingItem:
        """POST /pending/{id}/reject (owner or master key): discard it."""
        data = await self._json("POST", f"/pending/{segment(pending_id)}/reject")
        return PendingItem.model_validate(data)

    async def pending_reminders(self) -> list[PendingReminder]:
        """POST /pending/reminders (agent key): reminders due since the last call, once each."""
        data = await self._json("POST", "/pending/reminders")
        return [PendingReminder.model_validate(item) for item in data["reminders"]]

    async def get_guard_policy(self, name: str) -> GuardPolicy:
        """GET /accounts/{name}/guard-policy (owner or master key)."""
        data = await self._json("GET", f"/accounts/{segment(name)}/guard-policy")
        return GuardPolicy.model_validate(data)

    async def set_guard_policy(self, name: str, policy: dict[str, Any]) -> GuardPolicy:
        """PUT /accounts/{name}/guard-policy (owner or master key): replace the policy."""
        path = f"/accounts/{segment(name)}/guard-policy"
        return GuardPolicy.model_validate(await self._json("PUT", path, json_body=policy))
