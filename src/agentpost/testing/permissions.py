"""Test helpers of the permissions area: SMTP configuration rows without the management API
(no password, so no vault), and permission rows set through the service."""

from __future__ import annotations

import uuid

from agentpost.services import permission_admin
from agentpost.services.accounts import Principal, now_utc
from agentpost.services.context import AppContext
from agentpost.storage.repositories import permissions as permission_repo
from agentpost.storage.repositories import smtp_configs as config_repo
from agentpost.storage.repositories.permissions import PermissionRecord


async def make_config(
    ctx: AppContext,
    owner_id: str,
    name: str = "relay",
    *,
    max_per_day: int | None = None,
    active: bool = True,
    is_default: bool = False,
) -> str:
    """A configuration row for ``owner_id`` pointing at a loopback host; returns its id."""
    config_id = str(uuid.uuid4())
    now = now_utc()
    async with ctx.db.write() as conn:
        await config_repo.insert_config(
            conn,
            {
                "id": config_id,
                "owner_id": owner_id,
                "connection_name": name,
                "host": "127.0.0.1",
                "port": 2525,
                "security": "none",
                "username": None,
                "password_ciphertext": None,
                "password_key_id": None,
                "from_email": f"{name}@example.com",
                "from_name": None,
                "reply_to": None,
                "connection_timeout": 10,
                "max_emails_per_day": max_per_day,
                "is_active": active,
                "is_default": is_default,
                "allow_insecure": True,
                "verify_tls": True,
                "created_at": now,
                "updated_at": now,
                "last_tested_at": None,
                "last_test_ok": None,
            },
        )
    return config_id


async def grant(
    ctx: AppContext,
    principal: Principal,
    agent_name: str,
    config_id: str,
    **fields: object,
) -> PermissionRecord:
    """Set a permission row through the service (the same checks as the API)."""
    data = permission_admin.PermissionInput(**fields)  # type: ignore[arg-type]
    return await permission_admin.set_permission(ctx, principal, agent_name, config_id, data)


async def rows_of(ctx: AppContext, agent_id: str) -> list[PermissionRecord]:
    async with ctx.db.read() as conn:
        return await permission_repo.permissions_of(conn, agent_id)
