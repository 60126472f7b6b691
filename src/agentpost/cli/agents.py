"""``agentpost agent``: create, list and delete agents and rotate their keys, directly on the
database, as the admin.

An agent's API key is printed once, at creation or rotation; only its keyed hash is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from agentpost.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    DomainOption,
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
from agentpost.services import accounts, lifecycle
from agentpost.storage.records import AgentRecord

app = typer.Typer(
    help="Create, list and delete agents (each gets a mailbox and an API key); rotate keys."
)

RoleOption = Annotated[
    str,
    typer.Option(
        "--role", help=f"The agent's role: {', '.join(accounts.ROLES)}.", show_default=True
    ),
]


def agent_json(agent: AgentRecord, api_key: str | None = None) -> dict[str, Any]:
    """The same shape the REST API answers with (``apiKey`` only at creation and rotation)."""
    body: dict[str, Any] = {
        "id": agent.id,
        "name": agent.name,
        "email": agent.address,
        "role": agent.role,
        "metadata": agent.metadata,
        "persistent": agent.persistent,
        "createdAt": iso(agent.created_at),
        "updatedAt": iso(agent.updated_at),
        "lastActivityAt": iso(agent.last_activity_at),
    }
    if api_key is not None:
        body["apiKey"] = api_key
    return body


async def _create(settings: Settings, name: str, role: str) -> tuple[AgentRecord, str]:
    async with admin_session(settings) as (ctx, admin):
        return await accounts.create_agent(ctx, admin, name=name, role=role)


async def _list(settings: Settings) -> list[AgentRecord]:
    async with admin_session(settings) as (ctx, admin):
        return await accounts.list_agents(ctx, admin)


async def _delete(settings: Settings, name: str) -> AgentRecord:
    async with admin_session(settings) as (ctx, admin):
        # Like the API: the mailbox is archived under a deletion report first.
        agent, _report = await lifecycle.delete_agent(ctx, admin, name, deleted_by="cli")
        return agent


async def _rotate_key(settings: Settings, name: str) -> tuple[AgentRecord, str]:
    async with admin_session(settings) as (ctx, admin):
        return await accounts.rotate_agent_key(ctx, admin, name)


@app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="The agent's name; its address is name@domain.")],
    role: RoleOption = accounts.DEFAULT_ROLE,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    domain: DomainOption = None,
) -> None:
    """Create an agent with its mailbox; print its address and API key (shown once)."""
    settings = build_settings(data_dir=data_dir, database_url=database_url, domain=domain)
    agent, key = run(_create(settings, name, role), settings)
    if json_output:
        print_json(agent_json(agent, key))
        return
    console = out_console()
    console.print(f"Created agent [bold]{agent.name}[/bold] <{agent.address}> ({agent.role})")
    console.print(f"API key: [bold green]{key}[/bold green]")
    console.print("Save the key now: it is shown only once.")


@app.command("list")
def list_command(
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List every agent."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    agents = run(_list(settings), settings)
    if json_output:
        print_json({"agents": [agent_json(agent) for agent in agents]})
        return
    if not agents:
        out_console().print("No agents yet: create one with `agentpost agent create NAME`.")
        return
    table = Table("Name", "Address", "Role", "Created (UTC)", "Last activity (UTC)")
    for agent in agents:
        table.add_row(
            agent.name,
            agent.address,
            agent.role,
            short_time(agent.created_at),
            short_time(agent.last_activity_at),
        )
    out_console().print(table)


@app.command("delete")
def delete_command(
    name: Annotated[str, typer.Argument(help="The agent to delete.")],
    yes: YesOption = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Delete an agent with its mailbox and every message in it."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    if not yes:
        typer.confirm(f'Delete agent "{name}" and all of its mail?', abort=True)
    agent = run(_delete(settings, name), settings)
    if json_output:
        print_json({"deleted": True, "name": agent.name, "email": agent.address})
        return
    out_console().print(f"Deleted agent {agent.name} <{agent.address}>.")


@app.command("rotate-key")
def rotate_key_command(
    name: Annotated[str, typer.Argument(help="The agent (name or id) that gets a new key.")],
    yes: YesOption = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Give an agent a new API key (shown once); the old key stops working at once."""
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    confirm_new_key(f'agent "{name}"', yes)
    agent, key = run(_rotate_key(settings, name), settings)
    if json_output:
        print_json(agent_json(agent, key))
        return
    heading = f"New API key for agent [bold]{agent.name}[/bold] <{agent.address}>"
    print_new_key(heading, "API key", key)
