"""``agentpost relay``: connect, show and disconnect the default owner's relay account.

``setup`` checks the IMAP and SMTP logins before saving, like POST /gateway/relay; the password
is prompted for (hidden) unless ``--password-stdin`` reads it from standard input, so it never
sits in the shell history. The scheduler role of a running server picks the account up within
``relay_poll_seconds``.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from agentpost.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    admin_session,
    build_settings,
    fail,
    iso,
    out_console,
    print_json,
    run,
)
from agentpost.config import Settings
from agentpost.domain.relay import sub_address
from agentpost.services import relay, relay_tools
from agentpost.services.relay_plan import RelaySetup
from agentpost.services.relay_tools import GatewayStatus

app = typer.Typer(help="Connect an existing mail account (relay gateway).", no_args_is_help=True)


def status_json(status: GatewayStatus) -> dict[str, Any]:
    account = status.account
    if account is None:
        return {"mode": "none", "healthy": True, "relay": None}
    return {
        "mode": "relay",
        "healthy": status.healthy,
        "relay": {
            "provider": account.provider,
            "email": account.email,
            "status": account.status,
            "lastError": account.last_error,
            "lastSyncAt": iso(account.last_sync_at),
            "mailbox": account.mailbox,
            "imapHost": account.imap_host,
            "imapPort": account.imap_port,
            "smtpConfigId": account.smtp_config_id,
            "defaultAgent": status.default_agent.name if status.default_agent else None,
            "importedCount": account.imported_count,
        },
    }


async def _status(settings: Settings) -> GatewayStatus:
    async with admin_session(settings) as (ctx, admin):
        return await relay_tools.gateway_status(ctx, admin)


@app.command("status")
def status_command(
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show the relay account: status, last sync, last error, imported messages."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    data = status_json(run(_status(settings), settings))
    if json_output:
        print_json(data)
        return
    if data["relay"] is None:
        out_console().print("No relay account is connected (agentpost relay setup).")
        return
    for key, value in data["relay"].items():
        out_console().print(f"{key}: {value if value is not None else '-'}")


async def _setup(settings: Settings, setup: RelaySetup) -> relay.RelaySetupResult:
    async with admin_session(settings) as (ctx, admin):
        return await relay.setup_relay(ctx, admin, setup)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password (for Gmail/Outlook: an app password)", hide_input=True))


@app.command("setup")
def setup_command(
    email: Annotated[str, typer.Argument(help="The account's own address.")],
    provider: Annotated[
        str, typer.Option("--provider", help="gmail, outlook or custom.")
    ] = "custom",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    smtp_host: Annotated[str | None, typer.Option("--smtp-host", help="SMTP host.")] = None,
    smtp_port: Annotated[int | None, typer.Option("--smtp-port", help="SMTP port.")] = None,
    smtp_security: Annotated[
        str | None, typer.Option("--smtp-security", help="tls, starttls or none.")
    ] = None,
    imap_host: Annotated[str | None, typer.Option("--imap-host", help="IMAP host.")] = None,
    imap_port: Annotated[int | None, typer.Option("--imap-port", help="IMAP port.")] = None,
    imap_security: Annotated[
        str | None, typer.Option("--imap-security", help="tls, starttls or none.")
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help='Default agent (default "secretary").')
    ] = None,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Connect (or replace) the relay account after checking both logins."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    password = _password(password_stdin)
    if not password:
        fail("a password is required")
    setup = RelaySetup(
        provider=provider,
        email=email,
        password=password,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_security=smtp_security,
        imap_host=imap_host,
        imap_port=imap_port,
        imap_security=imap_security,
        agent_name=agent,
    )
    result = run(_setup(settings, setup), settings)
    data: dict[str, Any] = {"email": result.account.email, "provider": result.account.provider}
    if result.agent is not None:
        data["agent"] = result.agent.name
        data["subAddress"] = sub_address(result.account.email, result.agent.name)
        if result.api_key:
            data["apiKey"] = result.api_key
    if json_output:
        print_json(data)
        return
    out_console().print(f"Relay connected: {data['email']} ({data['provider']})")
    if "agent" in data:
        out_console().print(f"Default agent {data['agent']} sends as {data['subAddress']}")
    if "apiKey" in data:
        out_console().print(f"Its API key (shown once): {data['apiKey']}")


async def _remove(settings: Settings) -> str:
    async with admin_session(settings) as (ctx, admin):
        return (await relay.remove_relay(ctx, admin)).email


@app.command("remove")
def remove_command(
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Disconnect the relay account (its SMTP configuration is deactivated)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    email = run(_remove(settings), settings)
    out_console().print(f"Relay account {email} disconnected.")
