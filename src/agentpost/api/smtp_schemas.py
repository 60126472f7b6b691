"""Wire shapes of the SMTP configuration and audit routes (docs/api/smtp.md), camelCase on the
wire. The password is write-only: requests may carry it, answers only say ``hasPassword``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, StrictBool, StrictInt

from agentpost.api.schemas import ApiModel, UtcDatetime
from agentpost.domain.provider_hints import ProbeResult
from agentpost.storage.repositories.audit import AuditRecord
from agentpost.storage.repositories.smtp_configs import SmtpConfigRecord


class SmtpConfigUpdate(ApiModel):
    """Every field optional; only the fields sent change (a null clears an optional one)."""

    preset: str | None = Field(
        default=None, description="gmail, outlook, office365 or custom: fills host, port, security."
    )
    connection_name: str | None = Field(default=None, description="Unique per owner.")
    host: str | None = None
    port: StrictInt | None = None
    security: str | None = Field(default=None, description="tls, starttls or none.")
    username: str | None = None
    password: SecretStr | None = Field(
        default=None, description="Write-only; sealed by the vault, never returned."
    )
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    connection_timeout: StrictInt | None = Field(default=None, description="Seconds, 1 to 300.")
    max_emails_per_day: StrictInt | None = Field(
        default=None, description="The configuration's daily cap; null for none."
    )
    is_active: StrictBool | None = None
    is_default: StrictBool | None = Field(
        default=None, description="The owner's default configuration (one per owner)."
    )
    allow_insecure: StrictBool | None = Field(
        default=None, description="Allow security none to a host that is not loopback."
    )
    verify_tls: StrictBool | None = Field(
        default=None, description="Verify the server certificate (default true)."
    )

    def fields(self) -> dict[str, Any]:
        """The fields sent, snake_case, with the password unwrapped (service input)."""
        values = self.model_dump(by_alias=False, exclude_unset=True, exclude={"owner_id"})
        if "password" in values:
            values["password"] = (
                self.password.get_secret_value() if self.password is not None else None
            )
        return values


class SmtpConfigCreate(SmtpConfigUpdate):
    owner_id: str | None = Field(
        default=None, description="Master key only: create for this owner (default: yours)."
    )


class SmtpConfigPublic(ApiModel):
    id: str
    owner_id: str
    connection_name: str
    host: str
    port: int
    security: str
    username: str | None
    has_password: bool
    from_email: str
    from_name: str | None
    reply_to: str | None
    connection_timeout: int
    max_emails_per_day: int | None
    is_active: bool
    is_default: bool
    allow_insecure: bool
    verify_tls: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    last_tested_at: UtcDatetime | None
    last_test_ok: bool | None


class SmtpConfigsPublic(ApiModel):
    configs: list[SmtpConfigPublic]


class SmtpConfigDeletedPublic(ApiModel):
    id: str
    deleted: bool = True


class SmtpTestPublic(ApiModel):
    ok: bool
    verdict: str = Field(description="One sentence: what worked, or what failed where.")
    stage: str = Field(description="connect, tls, ehlo, starttls, auth or quit.")
    code: int | None = Field(description="The server's reply code, if it replied.")
    reply: str = Field(description="The server's reply text (or the network error).")
    failure: str | None
    hint: str | None = Field(description="What to do about it, for known answers.")
    duration_ms: int
    tls_version: str | None
    config: SmtpConfigPublic


class AuditEntryPublic(ApiModel):
    seq: int
    at: UtcDatetime
    owner_id: str | None
    agent_id: str | None
    config_id: str | None
    operation: str
    recipients: int
    status: str
    error: str | None
    duration_ms: int | None
    detail: dict[str, Any]
    hash: str


class AuditPagePublic(ApiModel):
    entries: list[AuditEntryPublic]
    total: int
    next_cursor: int | None = Field(description="Pass as cursor for older rows; null at the end.")


class AuditVerifyPublic(ApiModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None
    reason: str | None


def config_of(record: SmtpConfigRecord) -> SmtpConfigPublic:
    values = {name: getattr(record, name) for name in SmtpConfigPublic.model_fields}
    return SmtpConfigPublic(**values)


def probe_result_of(record: SmtpConfigRecord, result: ProbeResult) -> SmtpTestPublic:
    return SmtpTestPublic(
        ok=result.ok,
        verdict=result.verdict,
        stage=result.stage.value,
        code=result.code,
        reply=result.reply,
        failure=None if result.failure is None else result.failure.value,
        hint=result.hint,
        duration_ms=result.duration_ms,
        tls_version=result.tls_version,
        config=config_of(record),
    )


def audit_entry_of(row: AuditRecord) -> AuditEntryPublic:
    values = {name: getattr(row, name) for name in AuditEntryPublic.model_fields}
    return AuditEntryPublic(**values)
