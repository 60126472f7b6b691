"""Client calls for the gateway (docs/api/gateway.md), mixed into ``AgentPostClient``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from agentpost.client.base import ClientBase, compact
from agentpost.client.models import Address, Model


class RelayAccount(Model):
    provider: str
    email: str
    status: str
    last_error: str | None = None
    last_sync_at: datetime | None = None
    mailbox: str = "INBOX"
    default_agent: str | None = None
    imported_count: int = 0
    polling: bool = False


class RelayAgent(Model):
    id: str
    name: str
    email: str
    role: str
    sub_address: str
    api_key: str | None = None


class RelaySetupResult(Model):
    status: str
    mode: str
    email: str
    provider: str
    relay: RelayAccount
    agent: RelayAgent | None = None


class GatewayStatus(Model):
    mode: str
    healthy: bool
    relay: RelayAccount | None = None


class GatewayTestResult(Model):
    status: str
    message_id: str
    uid: int
    sender: str
    agent: str


class RelayHit(Model):
    uid: int
    source: str = "relay"
    account: str
    message_id: str = ""
    subject: str = ""
    from_: list[Address] = Field(default=[], alias="from")
    to: list[Address] = []
    date: datetime | None = None
    flags: list[str] = []
    size: int = 0
    agent: str | None = None
    imported: bool = False


class RelaySearchResult(Model):
    relay_results: list[RelayHit] = []
    count: int = 0


class RelayImportResult(Model):
    ok: bool
    uid: int
    folder: str
    relay_uid: int
    already_imported: bool
    message: str


class GatewayCalls(ClientBase):
    async def setup_relay(self, **fields: Any) -> RelaySetupResult:
        """Fields as in POST /gateway/relay, in camelCase (provider, email, password, …)."""
        data = await self._json("POST", "/gateway/relay", json_body=compact(fields))
        return RelaySetupResult.model_validate(data)

    async def gateway_status(self) -> GatewayStatus:
        return GatewayStatus.model_validate(await self._json("GET", "/gateway/status"))

    async def gateway_test(self, to: str) -> GatewayTestResult:
        data = await self._json("POST", "/gateway/test", json_body={"to": to})
        return GatewayTestResult.model_validate(data)

    async def relay_search(
        self,
        *,
        from_: str | None = None,
        to: str | None = None,
        subject: str | None = None,
        text: str | None = None,
        since: str | None = None,
        before: str | None = None,
        seen: bool | None = None,
        limit: int | None = None,
    ) -> RelaySearchResult:
        params: dict[str, Any] = {"from": from_, "to": to, "subject": subject, "text": text}
        params |= {"since": since}
        params |= {"before": before, "seen": seen, "limit": limit}
        data = await self._json("GET", "/gateway/relay/search", params=params)
        return RelaySearchResult.model_validate(data)

    async def relay_import(self, uid: int) -> RelayImportResult:
        data = await self._json("POST", "/gateway/relay/import", json_body={"uid": uid})
        return RelayImportResult.model_validate(data)

    async def setup_guide(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._json("GET", "/gateway/setup-guide")
        return data

    async def gmail_alias(
        self, agent_email: str, display_name: str | None = None
    ) -> dict[str, Any]:
        body = compact({"agentEmail": agent_email, "agentDisplayName": display_name})
        data: dict[str, Any] = await self._json(
            "POST", "/gateway/domain/alias-setup", json_body=body
        )
        return data

    async def setup_domain(self, **fields: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self._json(
            "POST", "/gateway/domain", json_body=compact(fields)
        )
        return data

    async def purchase_domain(self, keywords: list[str], tld: str | None = None) -> dict[str, Any]:
        body = compact({"keywords": keywords, "tld": tld})
        data: dict[str, Any] = await self._json("POST", "/gateway/domain/purchase", json_body=body)
        return data

    async def payment_setup(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._json("GET", "/gateway/domain/payment-setup")
        return data
