"""Validation of an SMTP configuration's fields, for create (from defaults) and update (over
the stored values). Every refusal is an ``InvalidInput`` naming the wire field (camelCase) and
saying what to do; the password is checked for shape only and never quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentpost.domain.addresses import has_line_break, is_valid_address
from agentpost.domain.smtp_presets import (
    PRESETS,
    default_port,
    default_security,
    is_loopback,
    is_valid_host,
)
from agentpost.domain.transport import Security
from agentpost.errors import InvalidInput

NAME_MAX = 100
FROM_NAME_MAX = 200
USERNAME_MAX = 320
PASSWORD_MAX = 1024
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 1, 300, 30
DAILY_MAX = 1_000_000

# Fields a caller may give; "preset" and "password" are not columns.
FIELDS = (
    "preset",
    "connection_name",
    "host",
    "port",
    "security",
    "username",
    "password",
    "from_email",
    "from_name",
    "reply_to",
    "connection_timeout",
    "max_emails_per_day",
    "is_active",
    "is_default",
    "allow_insecure",
    "verify_tls",
)
CREATE_DEFAULTS: dict[str, Any] = {
    "connection_timeout": TIMEOUT_DEFAULT,
    "is_active": True,
    "is_default": False,
    "allow_insecure": False,
    "verify_tls": True,
}


def _wire(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _text(values: Mapping[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{_wire(name)} is required", field=_wire(name))
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{_wire(name)} must be a string", field=_wire(name))
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{_wire(name)} must be at most {limit} characters", field=_wire(name))
    if has_line_break(value):
        # These values become SMTP command arguments or header lines (RFC 5322 §2.2).
        raise InvalidInput(f"{_wire(name)} must not contain line breaks", field=_wire(name))
    return value


def _integer(values: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{_wire(name)} must be a whole number from {low} to {high}", field=_wire(name)
        )
    return value


def _address(values: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = _text(values, name, USERNAME_MAX, required=required)
    if value is not None and not is_valid_address(value):
        raise InvalidInput(
            f"{_wire(name)} must be an email address such as agent@example.com",
            field=_wire(name),
        )
    return value


def apply_preset(changes: dict[str, Any]) -> None:
    """Fill host, port and security from a named preset where the caller gave none."""
    name = changes.pop("preset", None)
    if name is None:
        return
    key = str(name).strip().lower()
    if key not in PRESETS:
        choices = ", ".join(PRESETS)
        raise InvalidInput(f"preset must be one of: {choices}", field="preset")
    preset = PRESETS[key]
    if preset is not None:
        changes.setdefault("host", preset.host)
        changes.setdefault("port", preset.port)
        changes.setdefault("security", preset.security.value)


def _connection(merged: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    host = _text(merged, "host", 253, required=True) or ""
    if not is_valid_host(host):
        raise InvalidInput("host must be a host name or IP address", field="host")
    raw_security = merged.get("security")
    port = _integer(merged, "port", 1, 65535)
    try:
        security = Security(raw_security) if raw_security else None
    except ValueError:
        raise InvalidInput(
            "security must be one of: tls, starttls, none", field="security"
        ) from None
    if security is None:
        security = default_security(port) if port is not None else Security.STARTTLS
    if port is None:
        port = default_port(security)
    allow_insecure = bool(merged.get("allow_insecure"))
    if security is Security.NONE and not (is_loopback(host) or allow_insecure):
        raise InvalidInput(
            "security none sends the password and every message in clear text; it is only "
            "allowed to a loopback host unless allowInsecure is set to true",
            field="security",
        )
    return {"host": host, "port": port, "security": security.value}


def settle(current: Mapping[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The column values after ``changes`` (already preset-expanded) over ``current``.

    Raises ``InvalidInput`` for the first problem found. ``password`` is not handled here.
    """
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field: {_wire(unknown[0])}", field=_wire(unknown[0]))
    merged = {**current, **changes}
    values = _connection(merged, changes)
    values["connection_name"] = _text(merged, "connection_name", NAME_MAX, required=True)
    values["username"] = _text(merged, "username", USERNAME_MAX, required=False)
    from_email = merged.get("from_email")
    if from_email is None and values["username"] and is_valid_address(values["username"]):
        merged["from_email"] = values["username"]  # the usual case: log in as the sender
    values["from_email"] = _address(merged, "from_email", required=True)
    values["from_name"] = _text(merged, "from_name", FROM_NAME_MAX, required=False)
    values["reply_to"] = _address(merged, "reply_to", required=False)
    timeout = _integer(merged, "connection_timeout", TIMEOUT_MIN, TIMEOUT_MAX)
    values["connection_timeout"] = TIMEOUT_DEFAULT if timeout is None else timeout
    values["max_emails_per_day"] = _integer(merged, "max_emails_per_day", 1, DAILY_MAX)
    for flag in ("is_active", "is_default", "allow_insecure", "verify_tls"):
        value = merged.get(flag, CREATE_DEFAULTS[flag])
        if not isinstance(value, bool):
            raise InvalidInput(f"{_wire(flag)} must be true or false", field=_wire(flag))
        values[flag] = value
    return values


def check_password(password: Any) -> str | None:
    """The new password, or None to remove it. Shape only; the value is never echoed."""
    if password is None:
        return None
    if not isinstance(password, str) or not password:
        raise InvalidInput(
            "password must be a non-empty string (or null to remove it)", field="password"
        )
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(f"password must be at most {PASSWORD_MAX} characters", field="password")
    if "\x00" in password or "\r" in password or "\n" in password:
        # AUTH PLAIN separates fields with NUL (RFC 4616 §2); CR/LF would end the command.
        raise InvalidInput("password must not contain NUL, CR or LF characters", field="password")
    return password


def check_credentials(username: str | None, has_password: bool) -> None:
    if username and not has_password:
        raise InvalidInput("password is required when username is set", field="password")
    if has_password and not username:
        raise InvalidInput("username is required when a password is set", field="username")
