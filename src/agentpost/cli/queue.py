"""``agentpost queue``: see and steer the outbound delivery queue, as the admin.

``list`` shows external recipients with their status, attempts, last reply and next attempt;
``retry`` makes waiting rows (queued, deferred) due now; ``requeue`` sends failed rows again
with a fresh deadline; ``cancel`` stops waiting rows for good (they fail, never sent). Running
workers are woken, in other processes too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from agentpost.services import queue
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext
from agentpost.services.queue import QueueSelection
from agentpost.storage.repositories.delivery import QueueRow

app = typer.Typer(help="See and steer the outbound delivery queue.", no_args_is_help=True)

StatusOption = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        help=f"Only rows in this status (repeatable): {', '.join(queue.STATUSES)}.",
        show_default=False,
    ),
]
AgentOption = Annotated[
    str | None,
    typer.Option("--agent", help="Only this agent's mail (by name).", show_default=False),
]
IdsArgument = Annotated[
    list[int] | None,
    typer.Argument(
        help="Delivery ids (the first column of `agentpost queue list`).", show_default=False
    ),
]
AllOption = Annotated[
    bool, typer.Option("--all", help="Every matching row (with --agent: that agent's).")
]


def row_json(row: QueueRow) -> dict[str, Any]:
    item = row.delivery
    return {
        "id": item.id,
        "agent": row.agent_name,
        "recipient": item.recipient,
        "status": item.status,
        "attempts": item.attempts,
        "lastCode": item.last_code,
        "lastError": item.last_error,
        "nextAttemptAt": iso(item.next_attempt_at),
        "deadlineAt": iso(item.deadline_at),
        "deliveredAt": iso(item.delivered_at),
        "createdAt": iso(item.created_at),
        "messageId": row.message_id,
        "subject": row.subject,
    }


async def _list(settings: Settings, sel: QueueSelection, limit: int) -> list[QueueRow]:
    async with admin_session(settings) as (ctx, admin):
        return await queue.list_queue(ctx, admin, sel, limit=limit)


# What ``retry``, ``requeue`` and ``cancel`` run: a service call over a selection of rows.
Steer = Callable[[AppContext, Principal, QueueSelection], Awaitable[int]]


async def _steer(settings: Settings, action: Steer, sel: QueueSelection) -> int:
    async with admin_session(settings) as (ctx, admin):
        return await action(ctx, admin, sel)


def _steer_command(
    action: Steer,
    selection: tuple[list[int] | None, str | None, bool],
    where: tuple[DataDirOption, DatabaseUrlOption],
    json_output: bool,
    words: tuple[str, str],
) -> None:
    """Run ``action`` on the selected rows; print how many changed (``words``: the JSON key
    and the sentence after the count)."""
    settings = build_settings(data_dir=where[0], database_url=where[1])
    changed = run(_steer(settings, action, _selection(*selection)), settings)
    key, sentence = words
    if json_output:
        print_json({key: changed})
        return
    out_console().print(f"{changed} {sentence}")


@app.command("list")
def list_command(
    status: StatusOption = None,
    agent: AgentOption = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows.")] = 100,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List external deliveries, newest first."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    sel = QueueSelection(agent=agent, statuses=tuple(status or ()))
    found = run(_list(settings, sel, limit), settings)
    if json_output:
        print_json({"deliveries": [row_json(r) for r in found]})
        return
    if not found:
        out_console().print("The queue is empty for this selection.")
        return
    table = Table("Id", "Agent", "Recipient", "Status", "Tries", "Last reply", "Next try (UTC)")
    for row in found:
        item = row.delivery
        table.add_row(
            str(item.id),
            row.agent_name,
            item.recipient,
            item.status,
            str(item.attempts),
            (item.last_error or (str(item.last_code) if item.last_code else ""))[:60],
            short_time(item.next_attempt_at),
        )
    out_console().print(table)


def _selection(ids: list[int] | None, agent: str | None, everything: bool) -> QueueSelection:
    return QueueSelection(ids=tuple(ids or ()), agent=agent, everything=everything)


@app.command("retry")
def retry_command(
    ids: IdsArgument = None,
    agent: AgentOption = None,
    everything: AllOption = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Try queued and deferred rows now instead of at their next attempt time."""
    _steer_command(
        queue.retry_now,
        (ids, agent, everything),
        (data_dir, database_url),
        json_output,
        ("retried", "delivery row(s) are due now."),
    )


@app.command("requeue")
def requeue_command(
    ids: IdsArgument = None,
    agent: AgentOption = None,
    everything: AllOption = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Send failed rows again, with a fresh delivery deadline."""
    _steer_command(
        queue.requeue,
        (ids, agent, everything),
        (data_dir, database_url),
        json_output,
        ("requeued", "failed delivery row(s) are queued again."),
    )


@app.command("cancel")
def cancel_command(
    ids: IdsArgument = None,
    agent: AgentOption = None,
    everything: AllOption = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Stop queued and deferred rows for good: they are marked failed, never sent."""
    _steer_command(
        queue.cancel,
        (ids, agent, everything),
        (data_dir, database_url),
        json_output,
        ("cancelled", "delivery row(s) are cancelled."),
    )
