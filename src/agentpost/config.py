"""Settings: one typed object, read from ``AGENTPOST_*`` variables and CLI flags.

Build it once in the entry point (``Settings()`` or ``Settings(**overrides)``) and pass it
down; nothing reads the environment anywhere else. Validation happens here, at startup, so a
bad value stops the server before it listens.
"""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

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

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split(","))

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'agentpost.db'}"
