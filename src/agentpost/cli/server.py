"""``agentpost serve``, ``init``, ``migrate`` and ``mcp``: running and preparing the server."""

from __future__ import annotations

from typing import Annotated

import typer

from agentpost.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    DomainOption,
    build_settings,
    out_console,
    run,
)
from agentpost.config import ROLES, Settings
from agentpost.runtime import announce_master_key, describe_database, run_server
from agentpost.services import accounts
from agentpost.services.context import build_context

HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        help="Address the HTTP and SMTP listeners bind. Env: AGENTPOST_HOST.",
        show_default=False,
    ),
]
HttpPortOption = Annotated[
    int | None,
    typer.Option(
        "--http-port",
        help="HTTP port; 0 picks a free one. Env: AGENTPOST_HTTP_PORT.",
        show_default=False,
    ),
]
SmtpPortOption = Annotated[
    int | None,
    typer.Option(
        "--smtp-port",
        help="SMTP port; 0 picks a free one. Env: AGENTPOST_SMTP_PORT.",
        show_default=False,
    ),
]
RoleOption = Annotated[
    str | None,
    typer.Option(
        "--role",
        help=f"Comma-separated roles for this process: {','.join(ROLES)} (default: all). "
        "Env: AGENTPOST_ROLES.",
        show_default=False,
    ),
]


def serve_command(
    host: HostOption = None,
    http_port: HttpPortOption = None,
    smtp_port: SmtpPortOption = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    domain: DomainOption = None,
    role: RoleOption = None,
) -> None:
    """Run the server: HTTP API and SMTP listener in one process, until Ctrl+C or SIGTERM."""
    settings = build_settings(
        host=host,
        http_port=http_port,
        smtp_port=smtp_port,
        data_dir=data_dir,
        database_url=database_url,
        domain=domain,
        roles=role,
    )
    run(run_server(settings), settings, server=True)


async def _init(settings: Settings) -> str | None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = await build_context(settings)
    try:
        return await accounts.ensure_bootstrap(ctx)
    finally:
        await ctx.close()


def init_command(
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create the data directory, migrate the database and make the master key."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    key = run(_init(settings), settings)
    console = out_console()
    if key is not None:
        announce_master_key(key, console)
    elif settings.master_key is None:
        console.print("The master key already exists (it was shown when it was made).")
    console.print(f"Data directory: {settings.data_dir}")
    console.print(f"Database: {describe_database(settings)} (schema up to date)")


async def _migrate(settings: Settings) -> None:
    ctx = await build_context(settings)
    await ctx.close()


def migrate_command(
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Bring the database schema to the newest version (safe to run at any time)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    run(_migrate(settings), settings)
    out_console().print(f"Database {describe_database(settings)} is at the newest schema.")


def mcp_command() -> None:
    """Run the MCP server on stdio for one agent (reads AGENTPOST_API_URL, AGENTPOST_API_KEY)."""
    from agentpost.mcp import main as mcp_main

    mcp_main()
