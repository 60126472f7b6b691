"""What every command shares: the common options, building Settings from flags and the
environment, running a coroutine, turning failures into one line on stderr, and output helpers.

Flags override ``AGENTPOST_*`` variables because they are passed to ``Settings`` as init
values; a flag left out is simply not passed, so the variable (or the default) applies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from agentpost.config import Settings
from agentpost.errors import AgentPostError
from agentpost.runtime import ListenError, announce_master_key, describe_database
from agentpost.services import accounts
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext, build_context

T = TypeVar("T")

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (SQLite database, key file). Env: AGENTPOST_DATA_DIR.",
        show_default=False,
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db. Env: AGENTPOST_DATABASE_URL.",
        show_default=False,
    ),
]
DomainOption = Annotated[
    str | None,
    typer.Option(
        "--domain",
        help="Mail domain: agents are name@domain. Env: AGENTPOST_DOMAIN.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


class CliError(Exception):
    """A failure to report as one line on stderr."""


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def build_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with every flag that was given taking precedence."""
    values = {name: value for name, value in overrides.items() if value is not None}
    try:
        return Settings(**values)
    except ValidationError as exc:
        fail(settings_error(exc), code=2)


# Settings fields that also have a flag (on some command); the rest come from the environment.
FIELD_FLAGS = {
    "data_dir": "--data-dir",
    "database_url": "--database-url",
    "domain": "--domain",
    "host": "--host",
    "http_port": "--http-port",
    "smtp_port": "--smtp-port",
    "roles": "--role",
}


def settings_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "settings"
        sources = [f"AGENTPOST_{field.upper()}"]
        if field in FIELD_FLAGS:
            sources.insert(0, FIELD_FLAGS[field])
        problems.append(f"invalid {field} ({' or '.join(sources)}): {error['msg']}")
    return "; ".join(problems)


def _runner(server: bool) -> Callable[[Coroutine[Any, Any, T]], T]:
    if server:
        try:
            import uvloop
        except ImportError:  # optional: plain asyncio works the same, a little slower
            return asyncio.run
        return uvloop.run
    return asyncio.run


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run(main: Coroutine[Any, Any, T], settings: Settings, *, server: bool = False) -> T:
    """Run one command's coroutine; known failures become one line on stderr.

    The server runs on uvloop when it is installed (it comes with uvicorn[standard]): the SMTP
    listener accepts about 13% more mail per second on it (bench/README.md).
    """
    try:
        return _runner(server)(main)
    except AgentPostError as exc:
        fail(exc.message)
    except (CliError, ListenError) as exc:
        fail(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        fail(f"database {describe_database(settings)}: {first_line(exc)}")
    except ValueError as exc:
        fail(first_line(exc), code=2)


async def admin_principal(ctx: AppContext) -> Principal:
    """The admin, acting for the default owner: the CLI has direct database access."""
    return await accounts.admin_principal(ctx)


@asynccontextmanager
async def admin_session(settings: Settings) -> AsyncIterator[tuple[AppContext, Principal]]:
    """Open the database as the admin; a master key generated on the way is shown on stderr."""
    ctx = await build_context(settings)  # migrates to the newest schema first
    try:
        key = await accounts.ensure_bootstrap(ctx)
        if key is not None:
            announce_master_key(key, err_console())
        yield ctx, await admin_principal(ctx)
    finally:
        await ctx.close()


def out_console() -> Console:
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def confirm_new_key(whose: str, yes: bool) -> None:
    """Ask before replacing a key (unless ``yes``): clients still using the old key are refused
    until they are given the new one, so it is asked like a deletion is."""
    if not yes:
        typer.confirm(f"Replace the key of {whose}? The old key stops working now.", abort=True)


def print_new_key(heading: str, label: str, key: str) -> None:
    console = out_console()
    console.print(heading)
    console.print(f"{label}: [bold green]{key}[/bold green]")
    console.print("Save the key now: it is shown only once. The old key no longer works.")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z suffix, as the API answers."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def short_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"
