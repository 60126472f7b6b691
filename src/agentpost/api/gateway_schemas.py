"""Wire schemas of the gateway routes (camelCase JSON). Passwords are accepted, never returned."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, SecretStr

from agentpost.api.schemas import AddressPublic, ApiModel

Role = Literal["secretary", "assistant", "researcher", "writer", "custom"]
SecurityMode = Literal["tls", "starttls", "none"]


class RelayCreate(ApiModel):
    provider: Literal["gmail", "outlook", "custom"] = "custom"
    email: str = Field(min_length=3, max_length=320, description="The account's own address.")
    password: SecretStr = Field(description="The password; for Gmail and Outlook an app password.")
    smtp_host: str | None = Field(default=None, max_length=253)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: SecurityMode | None = Field(
        default=None, description="Default: tls on port 465, else starttls."
    )
    imap_host: str | None = Field(default=None, max_length=253)
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_security: SecurityMode | None = Field(
        default=None, description="Default: tls on port 993, else starttls."
    )
    username: str | None = Field(
        default=None, max_length=320, description="Login name if not the email address."
    )
    mailbox: str = Field(default="INBOX", min_length=1, max_length=200)
    agent_name: str | None = Field(
        default=None, description='Default agent for unroutable mail (default "secretary").'
    )
    agent_role: Role | None = None
    skip_default_agent: bool = False


class RelayAgentPublic(ApiModel):
    id: str
    name: str
    email: str
    role: str
    sub_address: str
    api_key: str | None = Field(default=None, description="Only when this call created it.")


class RelayAccountPublic(ApiModel):
    provider: str
    email: str
    status: str
    last_error: str | None
    last_sync_at: datetime | None
    mailbox: str
    imap_host: str
    imap_port: int
    smtp_config_id: str | None
    default_agent: str | None
    imported_count: int
    polling: bool = Field(description="True while the account is healthy and watched.")


class RelaySetupPublic(ApiModel):
    status: str = "ok"
    mode: str = "relay"
    email: str
    provider: str
    relay: RelayAccountPublic
    agent: RelayAgentPublic | None = None


class GatewayStatusPublic(ApiModel):
    mode: Literal["none", "relay"]
    healthy: bool
    relay: RelayAccountPublic | None = None


class GatewayTestCreate(ApiModel):
    to: str = Field(min_length=3, max_length=320)


class GatewayTestPublic(ApiModel):
    status: str
    message_id: str
    uid: int
    sender: str = Field(description="The sub-address the test goes out from.")
    agent: str


class RelayHitPublic(ApiModel):
    uid: int = Field(description="The relay UID: pass it to POST /gateway/relay/import.")
    source: Literal["relay"] = "relay"
    account: str
    message_id: str
    subject: str
    from_: list[AddressPublic] = Field(alias="from")
    to: list[AddressPublic]
    date: datetime
    flags: list[str]
    size: int
    agent: str | None
    imported: bool


class RelaySearchPublic(ApiModel):
    relay_results: list[RelayHitPublic]
    count: int


class RelayImportCreate(ApiModel):
    uid: int = Field(ge=1, description="A relay UID from the relay search.")


class RelayImportPublic(ApiModel):
    ok: bool = True
    uid: int
    folder: str
    relay_uid: int
    already_imported: bool
    message: str


class GmailAliasCreate(ApiModel):
    agent_email: str = Field(min_length=1, max_length=320)
    agent_display_name: str | None = Field(default=None, max_length=200)


class DomainCreate(ApiModel):
    cloudflare_token: SecretStr
    cloudflare_account_id: str
    domain: str | None = None
    purchase: dict[str, Any] | None = None
    gmail_relay: dict[str, Any] | None = None


class DomainPurchaseCreate(ApiModel):
    keywords: list[str] = Field(min_length=1)
    tld: str | None = None
