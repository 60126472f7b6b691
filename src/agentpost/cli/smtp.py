"""``agentpost smtp``: add, list, show, update, test and remove SMTP configurations, as the admin.

A configuration is named by its id or its connection name. The password is never taken as a
command-line argument (it would land in shell history and the process list): it is prompted
for with the echo off, or read from standard input with ``--password-stdin``. Nothing prints
it back; ``--json`` prints the API's shape (``hasPassword`` only).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from agentpost.api.smtp_schemas import config_of, probe_result_of
from agentpost.cli.common import (
    CliError,
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    YesOption,
    admin_session,
    build_settings,
    out_console,
    print_json,
    run,
    short_time,
)
from agentpost.config import Settings
from agentpost.delivery.probe import probe_endpoint
from agentpost.domain.provider_hints import ProbeResult
from agentpost.services import smtp_configs
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext
from agentpost.storage.repositories.smtp_configs import SmtpConfigRecord

app = typer.Typer(help="SMTP configurations: the accounts agents send through.")

ConfigArg = Annotated[str, typer.Argument(help="The configuration's id or connection name.")]
PresetOption = Annotated[
    str | None, typer.Option("--preset", help="gmail, outlook, office365 or custom.")
]
HostOption = Annotated[str | None, typer.Option("--host", help="SMTP server host name.")]
PortOption = Annotated[int | None, typer.Option("--port", help="Port (465 tls, 587 starttls).")]
SecurityOption = Annotated[
    str | None, typer.Option("--security", help="tls, starttls or none (none: loopback only).")
]
UsernameOption = Annotated[str | None, typer.Option("--username", help="Login for AUTH.")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input."),
]
FromEmailOption = Annotated[str | None, typer.Option("--from-email", help="Sender address.")]
FromNameOption = Annotated[str | None, typer.Option("--from-name", help="Sender display name.")]
ReplyToOption = Annotated[str | None, typer.Option("--reply-to", help="Reply-To address.")]
TimeoutOption = Annotated[
    int | None, typer.Option("--timeout", help="Connection timeout in seconds (1-300).")
]
MaxPerDayOption = Annotated[
    int | None, typer.Option("--max-per-day", help="Daily cap on messages through it.")
]
ActiveOption = Annotated[
    bool | None, typer.Option("--active/--inactive", help="Usable for sending.")
]
DefaultOption = Annotated[
    bool | None, typer.Option("--default/--no-default", help="The owner's default.")
]
InsecureOption = Annotated[
    bool | None,
    typer.Option("--allow-insecure/--no-allow-insecure", help="Allow security none off-host."),
]
VerifyOption = Annotated[
    bool | None,
    typer.Option("--verify-tls/--no-verify-tls", help="Verify the server's certificate."),
]


def _read_password(stdin: bool, prompt: bool) -> str | None:
    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise CliError("--password-stdin: standard input held no password")
        return value
    if prompt:
        value = typer.prompt("SMTP password", hide_input=True)
        return str(value)
    return None


async def _resolve(ctx: AppContext, admin: Principal, ref: str) -> SmtpConfigRecord:
    """By id, else by connection name (case-insensitive) among the admin's view."""
    configs = await smtp_configs.list_configs(ctx, admin)
    by_id = [c for c in configs if c.id == ref]
    by_name = [c for c in configs if c.connection_name.lower() == ref.lower()]
    found = by_id or by_name
    if len(found) > 1:
        raise CliError(f'several owners have a configuration named "{ref}"; use its id')
    if not found:
        raise CliError(f'no SMTP configuration "{ref}"; `agentpost smtp list` shows them')
    return found[0]


def _config_json(record: SmtpConfigRecord) -> dict[str, Any]:
    data: dict[str, Any] = config_of(record).model_dump(mode="json")
    return data


def _print_config(record: SmtpConfigRecord) -> None:
    console = out_console()
    for label, value in (
        ("Id", record.id),
        ("Name", record.connection_name),
        ("Server", f"{record.host}:{record.port} ({record.security})"),
        ("Username", record.username or "-"),
        ("Password", "set" if record.has_password else "none"),
        ("From", f"{record.from_name or ''} <{record.from_email}>".strip()),
        ("Reply-To", record.reply_to or "-"),
        ("Daily cap", str(record.max_emails_per_day or "none")),
        ("Active", "yes" if record.is_active else "no"),
        ("Default", "yes" if record.is_default else "no"),
        ("Verify TLS", "yes" if record.verify_tls else "no"),
        ("Last test", _last_test(record)),
    ):
        console.print(f"{label + ':':<11} {value}")


def _last_test(record: SmtpConfigRecord) -> str:
    if record.last_tested_at is None:
        return "never"
    outcome = "ok" if record.last_test_ok else "failed"
    return f"{outcome} at {short_time(record.last_tested_at)} UTC"


def _fields(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


async def _add(settings: Settings, fields: dict[str, Any]) -> SmtpConfigRecord:
    async with admin_session(settings) as (ctx, admin):
        return await smtp_configs.create_config(ctx, admin, fields)


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="A name for the configuration, unique per owner.")],
    preset: PresetOption = None,
    host: HostOption = None,
    port: PortOption = None,
    security: SecurityOption = None,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    from_email: FromEmailOption = None,
    from_name: FromNameOption = None,
    reply_to: ReplyToOption = None,
    timeout: TimeoutOption = None,
    max_per_day: MaxPerDayOption = None,
    active: ActiveOption = None,
    default: DefaultOption = None,
    allow_insecure: InsecureOption = None,
    verify_tls: VerifyOption = None,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Add a configuration; with --username the password is prompted for (echo off)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    password = run_password(password_stdin, prompt=username is not None)
    fields = _fields(
        connection_name=name, preset=preset, host=host, port=port, security=security,
        username=username, password=password, from_email=from_email, from_name=from_name,
        reply_to=reply_to, connection_timeout=timeout, max_emails_per_day=max_per_day,
        is_active=active, is_default=default, allow_insecure=allow_insecure,
        verify_tls=verify_tls,
    )  # fmt: skip
    record = run(_add(settings, fields), settings)
    if json_output:
        print_json(_config_json(record))
        return
    out_console().print(
        f"Added SMTP configuration [bold]{record.connection_name}[/bold] ({record.id}); "
        f"check it with `agentpost smtp test {record.id}`."
    )


def run_password(stdin: bool, *, prompt: bool) -> str | None:
    try:
        return _read_password(stdin, prompt)
    except CliError as exc:
        raise typer.BadParameter(str(exc)) from None


async def _list(settings: Settings) -> list[SmtpConfigRecord]:
    async with admin_session(settings) as (ctx, admin):
        return await smtp_configs.list_configs(ctx, admin)


@app.command("list")
def list_command(
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List every SMTP configuration."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    records = run(_list(settings), settings)
    if json_output:
        print_json({"configs": [_config_json(r) for r in records]})
        return
    if not records:
        out_console().print("No SMTP configurations yet: add one with `agentpost smtp add NAME`.")
        return
    table = Table("Id", "Name", "Server", "From", "Active", "Default", "Last test")
    for r in records:
        table.add_row(
            r.id, r.connection_name, f"{r.host}:{r.port} ({r.security})", r.from_email,
            "yes" if r.is_active else "no", "yes" if r.is_default else "no", _last_test(r),
        )  # fmt: skip
    out_console().print(table)


async def _show(settings: Settings, ref: str) -> SmtpConfigRecord:
    async with admin_session(settings) as (ctx, admin):
        return await _resolve(ctx, admin, ref)


@app.command("show")
def show_command(
    config: ConfigArg,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show one configuration (never its password)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    record = run(_show(settings, config), settings)
    if json_output:
        print_json(_config_json(record))
        return
    _print_config(record)


async def _update(settings: Settings, ref: str, fields: dict[str, Any]) -> SmtpConfigRecord:
    async with admin_session(settings) as (ctx, admin):
        record = await _resolve(ctx, admin, ref)
        return await smtp_configs.update_config(ctx, admin, record.id, fields)


@app.command("update")
def update_command(
    config: ConfigArg,
    name: Annotated[str | None, typer.Option("--name", help="A new connection name.")] = None,
    preset: PresetOption = None,
    host: HostOption = None,
    port: PortOption = None,
    security: SecurityOption = None,
    username: UsernameOption = None,
    new_password: Annotated[
        bool, typer.Option("--new-password", help="Prompt for a new password (echo off).")
    ] = False,
    password_stdin: PasswordStdinOption = False,
    from_email: FromEmailOption = None,
    from_name: FromNameOption = None,
    reply_to: ReplyToOption = None,
    timeout: TimeoutOption = None,
    max_per_day: MaxPerDayOption = None,
    active: ActiveOption = None,
    default: DefaultOption = None,
    allow_insecure: InsecureOption = None,
    verify_tls: VerifyOption = None,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Change the options given; a new host or port needs the password again."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    password = run_password(password_stdin, prompt=new_password)
    fields = _fields(
        connection_name=name, preset=preset, host=host, port=port, security=security,
        username=username, password=password, from_email=from_email, from_name=from_name,
        reply_to=reply_to, connection_timeout=timeout, max_emails_per_day=max_per_day,
        is_active=active, is_default=default, allow_insecure=allow_insecure,
        verify_tls=verify_tls,
    )  # fmt: skip
    record = run(_update(settings, config, fields), settings)
    if json_output:
        print_json(_config_json(record))
        return
    out_console().print(f"Updated SMTP configuration {record.connection_name} ({record.id}).")


async def _test(settings: Settings, ref: str) -> tuple[SmtpConfigRecord, ProbeResult]:
    async with admin_session(settings) as (ctx, admin):
        record = await _resolve(ctx, admin, ref)
        return await smtp_configs.probe_config(ctx, admin, record.id, probe_endpoint)


@app.command("test")
def test_command(
    config: ConfigArg,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Connect, TLS, EHLO, AUTH, QUIT (no mail is sent); exit status 1 when it fails."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    record, result = run(_test(settings, config), settings)
    if json_output:
        print_json(probe_result_of(record, result).model_dump(mode="json"))
    else:
        console = out_console()
        console.print(
            ("[green]OK[/green] " if result.ok else "[red]FAILED[/red] ") + result.verdict
        )
        if result.hint:
            console.print(f"What to do: {result.hint}")
    if not result.ok:
        raise typer.Exit(1)


async def _remove(settings: Settings, ref: str) -> SmtpConfigRecord:
    async with admin_session(settings) as (ctx, admin):
        record = await _resolve(ctx, admin, ref)
        return await smtp_configs.delete_config(ctx, admin, record.id)


@app.command("remove")
def remove_command(
    config: ConfigArg,
    yes: YesOption = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Remove a configuration and its stored password."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    if not yes:
        typer.confirm(f'Remove SMTP configuration "{config}"?', abort=True)
    record = run(_remove(settings, config), settings)
    if json_output:
        print_json({"id": record.id, "deleted": True})
        return
    out_console().print(f"Removed SMTP configuration {record.connection_name} ({record.id}).")
