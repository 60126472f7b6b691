"""``agentpost pending``: held outbound mail, listed, shown, approved or rejected as the admin.

The CLI opens the database directly (like every admin command), so approving here is the
master key's approval: the message is released exactly as it was held, through the same
store path as the API (permissions and limits still apply), exactly once.
"""

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
    short_time,
)
from agentpost.config import Settings
from agentpost.services import pending
from agentpost.services.outbox import SendResult
from agentpost.services.pending import PendingView

app = typer.Typer(help="Outbound mail held by the guard: list, show, approve, reject.")

IdArgument = Annotated[str, typer.Argument(help="The pending id (see `agentpost pending list`).")]
StatusOption = Annotated[
    str | None,
    typer.Option(
        "--status",
        help=f"Only items in this status: {', '.join(pending.STATUSES)}.",
        show_default=False,
    ),
]


def pending_json(view: PendingView) -> dict[str, Any]:
    """The shape of GET /pending items (docs/api/guard.md)."""
    record = view.record
    return {
        "id": record.id,
        "agentId": record.agent_id,
        "status": view.status,
        "to": record.envelope,
        "subject": record.subject,
        "messageId": record.message_id,
        "warnings": [f.to_dict() for f in view.findings],
        "contentHash": record.content_hash,
        "createdAt": iso(record.created_at),
        "expiresAt": iso(record.expires_at),
        "resolvedAt": iso(record.resolved_at),
        "resolvedBy": record.resolved_by,
        "nextReminderAt": iso(view.next_reminder_at),
    }


async def _list(settings: Settings, status: str | None, limit: int) -> list[PendingView]:
    async with admin_session(settings) as (ctx, admin):
        return await pending.list_pending(ctx, admin, status=status, limit=limit)


async def _show(settings: Settings, pending_id: str) -> PendingView:
    async with admin_session(settings) as (ctx, admin):
        return await pending.get_pending(ctx, admin, pending_id)


async def _approve(settings: Settings, pending_id: str, content_hash: str | None) -> SendResult:
    async with admin_session(settings) as (ctx, admin):
        return await pending.approve(ctx, admin, pending_id, expected_hash=content_hash)


async def _reject(settings: Settings, pending_id: str) -> PendingView:
    async with admin_session(settings) as (ctx, admin):
        return await pending.reject(ctx, admin, pending_id)


def _rules(view: PendingView) -> str:
    return ", ".join(dict.fromkeys(f"{f.rule_id} ({f.severity.value})" for f in view.findings))


@app.command("list")
def list_command(
    status: StatusOption = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1-100).")] = 50,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List held messages, newest first."""
    if status is not None and status not in pending.STATUSES:
        raise typer.BadParameter(f"use one of {', '.join(pending.STATUSES)}", param_hint="--status")
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    views = run(_list(settings, status, max(1, min(limit, 100))), settings)
    if json_output:
        print_json({"pending": [pending_json(v) for v in views], "count": len(views)})
        return
    if not views:
        out_console().print("No held messages.")
        return
    table = Table("Id", "Status", "To", "Subject", "Rules", "Held (UTC)")
    for view in views:
        record = view.record
        table.add_row(
            record.id,
            view.status,
            ", ".join(record.envelope)[:60],
            record.subject[:50],
            _rules(view),
            short_time(record.created_at),
        )
    out_console().print(table)


@app.command("show")
def show_command(
    pending_id: IdArgument,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show one held message: recipients, findings, its text and its content hash."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    view = run(_show(settings, pending_id), settings)
    held = view.message
    if json_output:
        body = pending_json(view)
        body["text"] = held.text if held else ""
        body["attachments"] = [a.filename for a in held.attachments] if held else []
        print_json(body)
        return
    console = out_console()
    console.print(f"Pending {view.record.id}: {view.status}")
    console.print(f"To: {', '.join(view.record.envelope)}")
    console.print(f"Subject: {view.record.subject}")
    for finding in view.findings:
        console.print(f"  [{finding.severity.value}] {finding.rule_id}: {finding.description}")
    console.print(f"Content hash: {view.record.content_hash}")
    console.print(f"Expires: {iso(view.record.expires_at)}")
    if held is not None:
        console.print("", held.text, sep="\n", markup=False)


@app.command("approve")
def approve_command(
    pending_id: IdArgument,
    content_hash: Annotated[
        str | None,
        typer.Option(
            "--content-hash",
            help="The content hash you reviewed (from `show`): refuse if the content differs.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Send a held message as it was held (once)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    result = run(_approve(settings, pending_id, content_hash), settings)
    if json_output:
        print_json(
            {
                "approved": True,
                "pendingId": pending_id,
                "messageId": result.message_id,
                "status": result.status,
            }
        )
        return
    out_console().print(f"Approved {pending_id}: {result.message_id} is {result.status}.")


@app.command("reject")
def reject_command(
    pending_id: IdArgument,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Discard a held message for good."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    view = run(_reject(settings, pending_id), settings)
    if json_output:
        print_json(pending_json(view))
        return
    out_console().print(f"Rejected {pending_id}.")
