"""SMTP configurations: an owner's (or the admin's) outbound accounts. Agent keys get 403;
another owner's configuration answers 404. Passwords go in, never out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from agentpost.api.deps import AdminOrOwnerDep, CtxDep
from agentpost.api.smtp_schemas import (
    SmtpConfigCreate,
    SmtpConfigDeletedPublic,
    SmtpConfigPublic,
    SmtpConfigsPublic,
    SmtpConfigUpdate,
    SmtpTestPublic,
    config_of,
    probe_result_of,
)
from agentpost.delivery.probe import probe_endpoint
from agentpost.services import smtp_configs

router = APIRouter(prefix="/smtp-configs", tags=["smtp-configs"])
ConfigPath = Annotated[str, Path(min_length=1, max_length=36, description="Configuration id.")]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_smtp_config(
    ctx: CtxDep, principal: AdminOrOwnerDep, body: SmtpConfigCreate
) -> SmtpConfigPublic:
    """Create a configuration; a preset fills host, port and security."""
    record = await smtp_configs.create_config(ctx, principal, body.fields(), owner_id=body.owner_id)
    return config_of(record)


@router.get("")
async def list_smtp_configs(ctx: CtxDep, principal: AdminOrOwnerDep) -> SmtpConfigsPublic:
    """The caller's configurations (the admin sees every owner's)."""
    records = await smtp_configs.list_configs(ctx, principal)
    return SmtpConfigsPublic(configs=[config_of(r) for r in records])


@router.get("/{config_id}")
async def read_smtp_config(
    ctx: CtxDep, principal: AdminOrOwnerDep, config_id: ConfigPath
) -> SmtpConfigPublic:
    return config_of(await smtp_configs.get_config(ctx, principal, config_id))


@router.patch("/{config_id}")
async def update_smtp_config(
    ctx: CtxDep, principal: AdminOrOwnerDep, config_id: ConfigPath, body: SmtpConfigUpdate
) -> SmtpConfigPublic:
    """Change the fields sent; a new host or port needs the password again."""
    record = await smtp_configs.update_config(ctx, principal, config_id, body.fields())
    return config_of(record)


@router.delete("/{config_id}")
async def delete_smtp_config(
    ctx: CtxDep, principal: AdminOrOwnerDep, config_id: ConfigPath
) -> SmtpConfigDeletedPublic:
    record = await smtp_configs.delete_config(ctx, principal, config_id)
    return SmtpConfigDeletedPublic(id=record.id)


@router.post("/{config_id}/test")
async def test_smtp_config(
    ctx: CtxDep, principal: AdminOrOwnerDep, config_id: ConfigPath
) -> SmtpTestPublic:
    """Connect, TLS, EHLO, AUTH, QUIT; no mail is sent. A failed test is still 200: the
    verdict, the server's reply and a hint are the answer."""
    record, result = await smtp_configs.probe_config(ctx, principal, config_id, probe_endpoint)
    return probe_result_of(record, result)
