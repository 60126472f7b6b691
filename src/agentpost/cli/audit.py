"""``agentpost audit``: list, export (CSV or JSON) and verify the hash-chained audit log."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
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
    short_time,
)
from agentpost.config import Settings
from agentpost.errors import AgentNotFound
from agentpost.services import accounts, audit
from agentpost.services.accounts import Principal
from agentpost.services.audit import AuditPage, VerifyReport
from agentpost.services.context import AppContext
from agentpost.storage.records import utc
from agentpost.storage.repositories.audit import AuditFilter, AuditRecord

app = typer.Typer(help="The audit log: every operation, hash-chained.")

AgentOption = Annotated[str | None, typer.Option("--agent", help="Agent name or id.")]
ConfigOption = Annotated[str | None, typer.Option("--config", help="SMTP configuration id.")]
OwnerOption = Annotated[str | None, typer.Option("--owner", help="Owner id.")]
OperationOption = Annotated[
    str | None, typer.Option("--operation", help='Exact, or a prefix ending in "." (send.).')
]
StatusOption = Annotated[
    str | None, typer.Option("--status", help="ok, refused, failed, deferred or held.")
]
SinceOption = Annotated[
    datetime | None, typer.Option("--since", help="From this time (ISO 8601, UTC).")
]
UntilOption = Annotated[
    datetime | None, typer.Option("--until", help="Before this time (ISO 8601, UTC).")
]
COLUMNS = (
    "seq", "at", "ownerId", "agentId", "configId", "operation", "recipients", "status",
    "error", "durationMs", "detail", "hash",
)  # fmt: skip


def row_json(row: AuditRecord) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": iso(utc(row.at)),
        "ownerId": row.owner_id,
        "agentId": row.agent_id,
        "configId": row.config_id,
        "operation": row.operation,
        "recipients": row.recipients,
        "status": row.status,
        "error": row.error,
        "durationMs": row.duration_ms,
        "detail": row.detail,
        "hash": row.hash,
    }


async def _agent_id(ctx: AppContext, admin: Principal, ref: str | None) -> str | None:
    if ref is None:
        return None
    try:
        return (await accounts.find_agent(ctx, admin, ref)).id
    except AgentNotFound:
        return ref  # not a name: taken as an id


async def _filter(ctx: AppContext, admin: Principal, **kw: Any) -> AuditFilter:
    kw["agent_id"] = await _agent_id(ctx, admin, kw.pop("agent"))
    return AuditFilter(**kw)


async def _list(
    settings: Settings, limit: int, cursor: int | None, kw: dict[str, Any]
) -> AuditPage:
    async with admin_session(settings) as (ctx, admin):
        f = await _filter(ctx, admin, **kw)
        return await audit.list_audit(ctx, admin, f, limit=limit, cursor=cursor)


@app.command("list")
def list_command(
    agent: AgentOption = None,
    config: ConfigOption = None,
    owner: OwnerOption = None,
    operation: OperationOption = None,
    status: StatusOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows per page (1-500).")] = 50,
    cursor: Annotated[
        int | None, typer.Option("--cursor", help="Start below this seq (nextCursor).")
    ] = None,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Audit rows, newest first."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    kw = _kw(agent, config, owner, operation, status, since, until)
    page = run(_list(settings, limit, cursor, kw), settings)
    if json_output:
        entries = [row_json(r) for r in page.entries]
        print_json({"entries": entries, "total": page.total, "nextCursor": page.next_cursor})
        return
    table = Table("Seq", "At (UTC)", "Operation", "Status", "Agent", "Config", "Rcpt", "Error")
    for r in page.entries:
        table.add_row(
            str(r.seq), short_time(r.at), r.operation, r.status, r.agent_id or "-",
            r.config_id or "-", str(r.recipients), r.error or "",
        )  # fmt: skip
    out_console().print(table)
    if page.next_cursor is not None:
        out_console().print(f"More: --cursor {page.next_cursor}")


def _kw(*values: Any) -> dict[str, Any]:
    names = ("agent", "config_id", "owner_id", "operation", "status", "since", "until")
    return dict(zip(names, values, strict=True))


async def _export(settings: Settings, kw: dict[str, Any]) -> list[dict[str, Any]]:
    async with admin_session(settings) as (ctx, admin):
        f = await _filter(ctx, admin, **kw)
        return [row_json(r) async for r in audit.iter_audit(ctx, admin, f)]


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "detail": json.dumps(row["detail"], sort_keys=True)})
    return buffer.getvalue()


@app.command("export")
def export_command(
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file (default: stdout).")
    ] = None,
    agent: AgentOption = None,
    config: ConfigOption = None,
    owner: OwnerOption = None,
    operation: OperationOption = None,
    status: StatusOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Every matching row, newest first, as CSV or a JSON array."""
    if format not in ("csv", "json"):
        raise typer.BadParameter("--format must be csv or json")
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    kw = _kw(agent, config, owner, operation, status, since, until)
    rows = run(_export(settings, kw), settings)
    text = _csv(rows) if format == "csv" else json.dumps(rows, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {output}: {exc.strerror}") from None
    out_console().print(f"Wrote {len(rows)} row(s) to {output}.")


async def _verify(settings: Settings) -> VerifyReport:
    async with admin_session(settings) as (ctx, admin):
        return await audit.verify_chain(ctx, admin)


@app.command("verify")
def verify_command(
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Walk the hash chain; exit status 1 and the first broken row when it does not hold."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    report = run(_verify(settings), settings)
    if json_output:
        print_json(
            {
                "ok": report.ok, "checked": report.checked, "headSeq": report.head_seq,
                "headHash": report.head_hash, "brokenSeq": report.broken_seq,
                "reason": report.reason,
            }
        )  # fmt: skip
    elif report.ok:
        out_console().print(
            f"Audit chain intact: {report.checked} row(s), head {report.head_seq} "
            f"{report.head_hash}. Keep the head somewhere else to detect removed newest rows."
        )
    else:
        out_console().print(
            f"[red]Audit chain broken at row {report.broken_seq}[/red]: {report.reason} "
            f"({report.checked} row(s) before it verified)."
        )
    if not report.ok:
        raise typer.Exit(1)
