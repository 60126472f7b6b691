"""Client calls of the policy area: send permissions and budget, function-calling tools, and
account lifecycle (deletion reports, inactive agents, cleanup, the persistent flag)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field

from agentpost.client.base import ClientBase, compact, segment
from agentpost.client.models import Model


class BudgetWindow(Model):
    name: str
    scope: str
    limit: int | None = None
    used: int = 0
    remaining: int | None = None
    resets_at: datetime | None = None


class BudgetConfiguration(Model):
    config_id: str | None = None
    is_default: bool = False
    can_send: bool = True
    active: bool = True
    allowed_recipients: list[str] = Field(default_factory=list)
    windows: list[BudgetWindow] = Field(default_factory=list)


class SendBudget(Model):
    policy: str
    can_send: bool
    local_recipients: str = "unlimited"
    configurations: list[BudgetConfiguration] = Field(default_factory=list)


class Permission(Model):
    agent: str
    config_id: str
    can_send: bool
    daily_limit: int | None = None
    hourly_limit: int | None = None
    allowed_recipients: list[str] = Field(default_factory=list)
    is_default: bool = False


class Correspondent(Model):
    address: str
    count: int


class DeletionSummary(Model):
    id: str
    agent_name: str
    agent_email: str
    agent_role: str = ""
    deleted_at: datetime
    deleted_by: str = ""
    reason: str | None = None
    total_emails: int = 0
    folders: dict[str, int] = Field(default_factory=dict)
    first_date: datetime | None = None
    last_date: datetime | None = None
    top_correspondents: list[Correspondent] = Field(default_factory=list)


class ArchivedEmail(Model):
    id: int
    folder: str
    uid: int
    subject: str = ""
    from_: str = Field(default="", alias="from")
    date: datetime | None = None


class DeletionReport(DeletionSummary):
    emails: list[ArchivedEmail] = Field(default_factory=list)


class AgentDeletion(Model):
    deleted: bool
    name: str
    email: str
    deletion_id: str | None = None
    emails_archived: int | None = None
    deleted_at: datetime | None = None
    top_correspondents: list[str] = Field(default_factory=list)


class InactiveAgent(Model):
    id: str
    name: str
    email: str
    role: str = ""
    last_activity_at: datetime | None = None
    persistent: bool = False


class CleanupResult(Model):
    dry_run: bool
    count: int
    would_delete: list[InactiveAgent] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)


class PolicyCalls(ClientBase):
    """Permissions, budget, tools and account lifecycle."""

    async def send_budget(self) -> SendBudget:
        return SendBudget.model_validate(await self._json("GET", "/mail/budget"))

    async def permissions(self, agent: str) -> list[Permission]:
        data = await self._json("GET", f"/accounts/{segment(agent)}/permissions")
        return [Permission.model_validate(item) for item in data["permissions"]]

    async def set_permission(
        self,
        agent: str,
        config_id: str,
        *,
        can_send: bool = True,
        daily_limit: int | None = None,
        hourly_limit: int | None = None,
        allowed_recipients: Sequence[str] = (),
        is_default: bool = False,
    ) -> Permission:
        body: dict[str, Any] = {"canSend": can_send, "dailyLimit": daily_limit}
        body |= {"hourlyLimit": hourly_limit}
        body |= {"allowedRecipients": list(allowed_recipients), "isDefault": is_default}
        path = f"/accounts/{segment(agent)}/permissions/{segment(config_id)}"
        return Permission.model_validate(await self._json("PUT", path, json_body=body))

    async def remove_permission(self, agent: str, config_id: str) -> None:
        await self._send("DELETE", f"/accounts/{segment(agent)}/permissions/{segment(config_id)}")

    async def function_tools(self, fmt: str = "both") -> dict[str, Any]:
        data: dict[str, Any] = await self._json("GET", "/tools", params={"format": fmt})
        return data

    async def call_function_tool(self, name: str, arguments: Mapping[str, Any]) -> str:
        data = await self._json("POST", f"/tools/{segment(name)}", json_body=dict(arguments))
        return str(data["result"])

    async def delete_agent(
        self, name_or_id: str, *, reason: str | None = None, deleted_by: str | None = None
    ) -> AgentDeletion:
        params = compact({"reason": reason, "deletedBy": deleted_by})
        data = await self._json("DELETE", f"/accounts/{segment(name_or_id)}", params=params)
        return AgentDeletion.model_validate(data)

    async def deletion_reports(self) -> list[DeletionSummary]:
        data = await self._json("GET", "/accounts/deletions")
        return [DeletionSummary.model_validate(item) for item in data["deletions"]]

    async def deletion_report(self, report_id: str) -> DeletionReport:
        path = f"/accounts/deletions/{segment(report_id)}"
        return DeletionReport.model_validate(await self._json("GET", path))

    async def inactive_agents(self, hours: float | None = None) -> list[InactiveAgent]:
        data = await self._json("GET", "/accounts/inactive", params={"hours": hours})
        return [InactiveAgent.model_validate(item) for item in data["agents"]]

    async def cleanup_agents(
        self, *, hours: float | None = None, dry_run: bool = False
    ) -> CleanupResult:
        body = compact({"hours": hours, "dryRun": dry_run})
        return CleanupResult.model_validate(
            await self._json("POST", "/accounts/cleanup", json_body=body)
        )

    async def set_persistent(self, agent_id: str, persistent: bool) -> InactiveAgent:
        path = f"/accounts/{segment(agent_id)}/persistent"
        data = await self._json("PATCH", path, json_body={"persistent": persistent})
        return InactiveAgent.model_validate(data | {"email": data.get("email", "")})
