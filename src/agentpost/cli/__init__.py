"""The ``agentpost`` command line (typer): serve, init, migrate, agent, owner, smtp, vault,
permission, queue, pending, relay, audit, mcp.

``main`` is the console-script entry point. Commands that touch the database open it directly
through the services, as the admin, with the same ``--data-dir``/``--database-url`` flags and
``AGENTPOST_*`` variables as the server. Listing commands take ``--json``; failures are one
line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agentpost.cli import agents, owners, server
from agentpost.cli import audit as audit_cli
from agentpost.cli import pending as pending_cli
from agentpost.cli import permissions as permission_cli
from agentpost.cli import queue as queue_cli
from agentpost.cli import relay as relay_cli
from agentpost.cli import smtp as smtp_cli
from agentpost.cli import vault as vault_cli
from agentpost.cli.common import first_line

TRACEBACK_FLAG = "--traceback"

app = typer.Typer(
    name="agentpost",
    help="AgentPost: self-hosted email for AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    traceback: Annotated[
        bool,
        typer.Option(TRACEBACK_FLAG, help="Show the full traceback of an unexpected error."),
    ] = False,
) -> None:
    """AgentPost: self-hosted email for AI agents."""


app.command("serve")(server.serve_command)
app.command("init")(server.init_command)
app.command("migrate")(server.migrate_command)
app.command("mcp")(server.mcp_command)
app.add_typer(agents.app, name="agent")
app.add_typer(owners.app, name="owner")
app.add_typer(smtp_cli.app, name="smtp")
app.add_typer(vault_cli.app, name="vault")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(queue_cli.app, name="queue")
app.add_typer(pending_cli.app, name="pending")
app.add_typer(permission_cli.app, name="permission")
app.add_typer(relay_cli.app, name="relay")


def main() -> None:
    """Entry point of the ``agentpost`` console script.

    Known failures are reported inside the commands; anything else is a bug, still reported
    as one line unless ``--traceback`` asks for the details.
    """
    try:
        app(prog_name="agentpost")
    except Exception as exc:
        if TRACEBACK_FLAG in sys.argv[1:]:
            raise
        typer.echo(
            f"error: unexpected {type(exc).__name__}: {first_line(exc)} "
            f"(run `agentpost {TRACEBACK_FLAG} ...` for details)",
            err=True,
        )
        sys.exit(1)
