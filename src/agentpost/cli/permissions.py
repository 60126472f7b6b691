"""``agentpost permission``: assign SMTP configurations to agents, with limits and allowed
recipients, directly on the database as the admin (the same checks as the REST API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from agentpost.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    admin_session,
    build_settings,
    iso,
    out_console,
    print_json,
    run,
)
from agentpost.config import Settings
from agentpost.services import permission_admin
from agentpost.storage.repositories.permissions import PermissionRecord

app = typer.Typer(help="Assign SMTP configurations to agents: can-send, limits, recipients.")

AgentArg = Annotated[str, typer.Argument(help="The agent's name.")]
ConfigArg = Annotated[str, typer.Argument(help="The SMTP configuration id.")]


def permission_json(agent: str, row: PermissionRecord) -> dict[str, Any]:
    """The same shape the REST API answers with."""
    return {
        "agent": agent,
        "configId": row.config_id,
        "canSend": row.can_send,
        "dailyLimit": row.daily_limit,
        "hourlyLimit": row.hourly_limit,
        "allowedRecipients": row.allowed_recipients,
        "isDefault": row.is_default,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


async def _set(
    settings: Settings, agent: str, config_id: str, data: permission_admin.PermissionInput
) -> PermissionRecord:
    async with admin_session(settings) as (ctx, admin):
        return await permission_admin.set_permission(ctx, admin, agent, config_id, data)


async def _list(settings: Settings, agent: str) -> list[PermissionRecord]:
    async with admin_session(settings) as (ctx, admin):
        _record, rows = await permission_admin.list_permissions(ctx, admin, agent)
        return rows


async def _remove(settings: Settings, agent: str, config_id: str) -> None:
    async with admin_session(settings) as (ctx, admin):
        await permission_admin.remove_permission(ctx, admin, agent, config_id)


def _limit(value: int | None) -> str:
    return "no limit" if value is None else str(value)


@app.command("set")
def set_command(
    agent: AgentArg,
    config_id: ConfigArg,
    can_send: Annotated[
        bool, typer.Option("--can-send/--no-can-send", help="May the agent send through it.")
    ] = True,
    daily_limit: Annotated[
        int | None, typer.Option("--daily-limit", help="Messages per sliding 24 h.")
    ] = None,
    hourly_limit: Annotated[
        int | None, typer.Option("--hourly-limit", help="Messages per sliding hour.")
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Allowed recipient: address, *@domain or /regex/ (repeat)."),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Make it the agent's default configuration.")
    ] = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create or replace an agent's permission for one configuration."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    data = permission_admin.PermissionInput(
        can_send=can_send,
        daily_limit=daily_limit,
        hourly_limit=hourly_limit,
        allowed_recipients=list(allow or []),
        is_default=default,
    )
    row = run(_set(settings, agent, config_id, data), settings)
    if json_output:
        print_json(permission_json(agent, row))
        return
    out_console().print(
        f"{agent} → {row.config_id}: can send {'yes' if row.can_send else 'no'}, "
        f"hourly {_limit(row.hourly_limit)}, daily {_limit(row.daily_limit)}, "
        f"recipients {', '.join(row.allowed_recipients) or 'anyone'}"
        + (" (default)" if row.is_default else "")
    )


@app.command("list")
def list_command(
    agent: AgentArg,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List an agent's permissions (none: the default policy applies)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    rows = run(_list(settings, agent), settings)
    if json_output:
        print_json({"agent": agent, "permissions": [permission_json(agent, r) for r in rows]})
        return
    if not rows:
        out_console().print(
            f"{agent} has no permissions: it sends through its owner's default configuration "
            "within the server's default limits."
        )
        return
    table = Table("Configuration", "Can send", "Hourly", "Daily", "Recipients", "Default")
    for row in rows:
        table.add_row(
            row.config_id,
            "yes" if row.can_send else "no",
            _limit(row.hourly_limit),
            _limit(row.daily_limit),
            ", ".join(row.allowed_recipients) or "anyone",
            "yes" if row.is_default else "",
        )
    out_console().print(table)


@app.command("remove")
def remove_command(
    agent: AgentArg,
    config_id: ConfigArg,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Take a configuration away from an agent."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    run(_remove(settings, agent, config_id), settings)
    out_console().print(f"Removed {agent}'s permission for {config_id}.")
