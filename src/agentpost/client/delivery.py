"""Client calls for the delivery status of sent mail (docs/api/delivery.md), mixed into
``AgentPostClient``."""

from __future__ import annotations

from datetime import datetime

from agentpost.client.base import ClientBase
from agentpost.client.models import Model


class DeliveryAttempt(Model):
    attempt: int
    at: datetime | None = None
    outcome: str = ""
    code: int | None = None
    reply: str | None = None
    duration_ms: int = 0


class RecipientDelivery(Model):
    recipient: str
    kind: str
    status: str
    attempts: int = 0
    last_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    deadline_at: datetime | None = None
    delivered_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[DeliveryAttempt] = []


class DeliveryReport(Model):
    uid: int
    folder: str = "Sent"
    status: str = ""
    recipients: list[RecipientDelivery] = []


class DeliveryCalls(ClientBase):
    async def get_delivery(self, uid: int, folder: str = "Sent") -> DeliveryReport:
        """GET /mail/messages/{uid}/delivery: where each recipient of a sent message stands."""
        data = await self._json("GET", f"/mail/messages/{uid}/delivery", params={"folder": folder})
        return DeliveryReport.model_validate(data)
