"""``agentpost owner``: create and list owners (the humans behind agents) and rotate their
keys, as the admin.

Single-user installs never need this: a default owner exists and the master key acts for it.
An owner's key is printed once, at creation or rotation.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from agentpost.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    YesOption,
    admin_session,
    build_settings,
    confirm_new_key,
    iso,
    out_console,
    print_json,
    print_new_key,
    run,
    short_time,
)
from agentpost.config import Settings
from agentpost.services import accounts
from agentpost.storage.records import OwnerRecord

app = typer.Typer(
    help="Create and list owners (each gets an owner key for their own agents); rotate keys."
)


def owner_json(owner: OwnerRecord, api_key: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": owner.id,
        "name": owner.name,
        "email": owner.email,
        "isDefault": owner.is_default,
        "createdAt": iso(owner.created_at),
    }
    if api_key is not None:
        body["apiKey"] = api_key
    return body


async def _create(settings: Settings, name: str, email: str | None) -> tuple[OwnerRecord, str]:
    async with admin_session(settings) as (ctx, admin):
        return await accounts.create_owner(ctx, admin, name=name, email=email)


async def _list(settings: Settings) -> list[OwnerRecord]:
    async with admin_session(settings) as (ctx, admin):
        return await accounts.list_owners(ctx, admin)


async def _rotate_key(settings: Settings, owner_id: str) -> tuple[OwnerRecord, str]:
    async with admin_session(settings) as (ctx, admin):
        return await accounts.rotate_owner_key(ctx, admin, owner_id)


@app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="The owner's name.")],
    email: Annotated[
        str | None, typer.Option("--email", help="The owner's email address.", show_default=False)
    ] = None,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create an owner; print its owner key (shown once)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    owner, key = run(_create(settings, name, email), settings)
    if json_output:
        print_json(owner_json(owner, key))
        return
    console = out_console()
    console.print(f"Created owner [bold]{escape(owner.name)}[/bold] ({owner.id})")
    console.print(f"Owner key: [bold green]{key}[/bold green]")
    console.print("Save the key now: it is shown only once.")


@app.command("list")
def list_command(
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List every owner, the default one included."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    owners = run(_list(settings), settings)
    if json_output:
        print_json({"owners": [owner_json(owner) for owner in owners]})
        return
    table = Table("Name", "Email", "Default", "Created (UTC)", Column("Id", overflow="fold"))
    for owner in owners:
        table.add_row(
            escape(owner.name),
            escape(owner.email or "-"),
            "yes" if owner.is_default else "",
            short_time(owner.created_at),
            owner.id,
        )
    out_console().print(table)


@app.command("rotate-key")
def rotate_key_command(
    owner_id: Annotated[str, typer.Argument(help="The owner's id (`agentpost owner list`).")],
    yes: YesOption = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Give an owner a new owner key (shown once); the old key stops working at once."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    confirm_new_key(f"owner {owner_id}", yes)
    owner, key = run(_rotate_key(settings, owner_id), settings)
    if json_output:
        print_json(owner_json(owner, key))
        return
    heading = f"New owner key for [bold]{escape(owner.name)}[/bold] ({owner.id})"
    print_new_key(heading, "Owner key", key)
