"""Settings: one typed object, read from ``AGENTPOST_*`` variables and CLI flags.

Build it once in the entry point (``Settings()`` or ``Settings(**overrides)``) and pass it
down; nothing reads the environment anywhere else. Validation happens here, at startup, so a
bad value stops the server before it listens.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ROLES = ("api", "smtp", "worker", "scheduler")


class SqliteSync(enum.StrEnum):
    """SQLite ``synchronous`` pragma: FULL syncs the WAL on every commit (power-loss safe)."""

    full = "FULL"
    normal = "NORMAL"


class Settings(BaseSettings):
    """Everything the server can be told. Every field is documented in docs/settings.md."""

    model_config = SettingsConfigDict(env_prefix="AGENTPOST_", extra="ignore")

    data_dir: Path = Field(
        default=Path("~/.agentpost"),
        description="Directory for the SQLite database, key files and TLS certificate.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite+aiosqlite in the data dir. "
        "Use postgresql+asyncpg://user@host/db for PostgreSQL.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP and SMTP listeners bind.")
    http_port: int = Field(default=3100, ge=0, le=65535, description="HTTP API port.")
    smtp_port: int = Field(default=2525, ge=0, le=65535, description="SMTP listener port.")
    domain: str = Field(
        default="localhost", description="The local mail domain: agents are name@domain."
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Admin key (mk_…). When unset, one is generated on first start, shown once "
        "and stored hashed.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key for the keyed hashes of API keys. When unset, a 0600 file in the data "
        "dir holds a generated one; set it explicitly when several processes share PostgreSQL.",
    )
    roles: str = Field(
        default="api,smtp,worker,scheduler",
        description="Comma-separated roles this process runs: api, smtp, worker, scheduler.",
    )
    max_message_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description="Largest message accepted over SMTP (SIZE) or the API, in bytes.",
    )
    mailbox_quota_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        ge=1024,
        description="Storage an agent's mailbox may use before inbound mail is refused.",
    )
    smtp_max_recipients: int = Field(
        default=100, ge=1, description="Most recipients accepted in one SMTP transaction."
    )
    smtp_tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate for STARTTLS; a self-signed one is made in the data dir "
        "when unset.",
    )
    smtp_tls_key: Path | None = Field(default=None, description="PEM private key for STARTTLS.")
    smtp_require_tls_for_auth: bool = Field(
        default=True,
        description="Refuse SMTP AUTH before STARTTLS. Only loopback tests should turn this off.",
    )
    sqlite_synchronous: SqliteSync = Field(
        default=SqliteSync.full, description="SQLite synchronous pragma (FULL or NORMAL)."
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    scheduler_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Longest the scheduler sleeps between looks for due scheduled sends when "
        "nothing wakes it.",
    )
    delivery_deadline_seconds: int = Field(
        default=2 * 24 * 3600,
        ge=1,
        description="How long the delivery worker keeps retrying a recipient before it fails "
        "and the sender gets a bounce.",
    )
    delivery_retry_base_seconds: float = Field(
        default=60.0, gt=0, description="First retry delay; doubles per attempt, with jitter."
    )
    delivery_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest delay between two delivery attempts."
    )
    delivery_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a worker holds a row it is sending; a crashed worker's rows are "
        "retried after it. Keep it above the SMTP timeout.",
    )
    delivery_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest the worker sleeps between looks at the queue when nothing wakes it.",
    )
    delivery_concurrency: int = Field(
        default=32, ge=1, description="Messages one worker process sends at the same time."
    )
    delivery_connections_per_config: int = Field(
        default=8,
        ge=1,
        description="Open SMTP connections one worker process keeps per SMTP configuration.",
    )
    relay_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Relay gateway: seconds between IMAP polls when the server has no IDLE, "
        "and between checks for new or removed relay accounts.",
    )
    relay_idle_seconds: float = Field(
        default=300.0,
        gt=0,
        le=1500,
        description="Relay gateway: longest IMAP IDLE before it is renewed (RFC 2177 asks for "
        "under 29 minutes).",
    )
    relay_max_backoff_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Relay gateway: the longest wait between reconnects after IMAP errors "
        "(the wait doubles from relay_poll_seconds up to this).",
    )
    reply_loop_limit: int = Field(
        default=5,
        ge=1,
        description="Loop protection: most replies an agent may send to one counterparty in "
        "one thread within reply_loop_window_seconds; the next is refused (429 reply_loop) "
        "and the owner is told.",
    )
    reply_loop_window_seconds: int = Field(
        default=3600, ge=60, description="Loop protection: the window of reply_loop_limit."
    )
    default_daily_send_limit: int = Field(
        default=500,
        ge=0,
        description="Messages a day (sliding 24 h) an agent with no permission rows may send "
        "to external recipients through its owner's default configuration; 0 = no limit.",
    )
    default_hourly_send_limit: int = Field(
        default=100,
        ge=0,
        description="The same, per sliding hour; 0 = no limit.",
    )
    vault_key: SecretStr | None = Field(
        default=None,
        description="Active vault key (32 bytes, base64 or hex) sealing stored SMTP passwords. "
        "When unset, a 0600 key file vault.key in the data dir holds a generated one.",
    )
    vault_previous_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated older vault keys that stay readable during a rotation.",
    )
    approval_ttl_hours: int = Field(
        default=168,
        ge=1,
        le=24 * 90,
        description="Hours a message held by the outbound guard waits for its owner's "
        "approval; after that it expires and can no longer be approved.",
    )

    trusted_authserv_ids: str = Field(
        default="",
        description="Approval by reply: comma-separated authserv-ids (RFC 8601) of the mail "
        "servers in front of AgentPost whose Authentication-Results headers are believed. When "
        "set, an owner's reply must carry one showing dmarc=pass or an aligned dkim=pass.",
    )
    notice_poll_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="System notices (worker role): longest the notice sender sleeps between "
        "looks for owner notification mail to send when nothing wakes it.",
    )

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        return None if value is None else async_database_url(value)

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, value: str) -> str:
        value = value.strip().lower()
        if not value or any(ch in value for ch in " @\r\n\t"):
            raise ValueError("domain must be a bare domain name such as example.com")
        return value

    @field_validator("roles")
    @classmethod
    def _check_roles(cls, value: str) -> str:
        roles = [r.strip() for r in value.split(",") if r.strip()]
        unknown = sorted(set(roles) - set(ROLES))
        if unknown or not roles:
            raise ValueError(f"roles must be a comma-separated subset of {', '.join(ROLES)}")
        return ",".join(roles)

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _check_authserv_ids(cls, value: str) -> str:
        ids = [part.strip().lower() for part in value.split(",") if part.strip()]
        if any(ch in item for item in ids for ch in " ;\r\n\t"):
            raise ValueError("trusted_authserv_ids must be comma-separated host names")
        return ",".join(ids)

    @property
    def trusted_authserv_set(self) -> frozenset[str]:
        return frozenset(filter(None, self.trusted_authserv_ids.split(",")))

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split(","))

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'agentpost.db'}"


# The async drivers AgentPost runs on, by the names people write for each database.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def async_database_url(value: str) -> str:
    """``value`` with the driver AgentPost uses (``postgresql://`` → ``postgresql+asyncpg://``,
    ``sqlite:///`` → ``sqlite+aiosqlite:///``); ValueError, naming what to write instead, for
    other databases and drivers and for in-memory SQLite."""
    try:
        url = make_url(value.strip())
    except ArgumentError:
        raise ValueError(
            "database_url is not a database URL: write sqlite+aiosqlite:///path/to/file.db "
            "or postgresql+asyncpg://user:password@host:5432/db"
        ) from None
    driver = _ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(
            f"database_url uses {url.drivername}://, which AgentPost does not run on: use "
            "SQLite (sqlite+aiosqlite:///path/to/file.db) or PostgreSQL through asyncpg "
            "(postgresql+asyncpg://user:password@host:5432/db)"
        )
    url = url.set(drivername=driver)
    if driver == "sqlite+aiosqlite" and _in_memory(url.database or "", url.query):
        raise ValueError(
            "database_url names an in-memory SQLite database, which every connection would "
            "see empty: give a file (sqlite+aiosqlite:///path/to/file.db), or leave it unset "
            "for agentpost.db in the data dir"
        )
    return url.render_as_string(hide_password=False)


def _in_memory(database: str, query: Mapping[str, Any]) -> bool:
    if database in ("", ":memory:"):
        return True
    options = database.partition("?")[2].split("&") if database.startswith("file:") else []
    return query.get("mode") == "memory" or "mode=memory" in options
