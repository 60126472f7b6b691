"""The reference docs are complete: every setting, CLI command and option, MCP tool and REST
route the code defines is documented. Adding one without its docs fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from agentpost.cli import app
from agentpost.config import Settings
from agentpost.services.context import AppContext

DOCS = Path(__file__).resolve().parent.parent / "docs"
API_PREFIX = "/api/v1"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
COMMAND_HEADING = re.compile(r"^#{2,4} `(agentpost[^`]*)`", re.MULTILINE)


def read(name: str) -> str:
    """A reference document: ``docs/NAME.md`` and its continuations ``docs/NAME/*.md``."""
    path = DOCS / name
    parts = [path, *sorted((DOCS / path.stem).glob("*.md"))]
    return "\n".join(part.read_text(encoding="utf-8") for part in parts)


def commands(group: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Every leaf command, as its full command line (``agentpost agent create``).

    Typer ships its own copy of click, so groups are recognised by their ``commands``."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from commands(command, path)
        else:
            yield path, command


def param_names(param: Any) -> list[str]:
    """An option's flags (``--json``), or an argument's metavar (``NAME``)."""
    if param.param_type_name == "option":
        return list(param.opts)
    return [param.name.upper()]


def sections(text: str) -> dict[str, str]:
    """Each ``### `agentpost …``` heading with the text up to the next command heading."""
    found = list(COMMAND_HEADING.finditer(text))
    ends = [match.start() for match in found[1:]] + [len(text)]
    return {
        match.group(1).strip(): text[match.end() : end]
        for match, end in zip(found, ends, strict=True)
    }


def test_every_setting_is_in_settings_md() -> None:
    text = read("settings.md")
    missing = [name for name in Settings.model_fields if f"`AGENTPOST_{name.upper()}`" not in text]
    assert missing == []


def test_every_cli_command_and_option_is_in_cli_md() -> None:
    documented = sections(read("cli.md"))
    missing = []
    root = typer.main.get_command(app)
    for path, command in [("agentpost", root), *commands(root, "agentpost")]:
        section = documented.get(path)
        if section is None:
            missing.append(path)
            continue
        for param in command.params:
            names = param_names(param)
            if not any(name in section for name in names):
                missing.append(f"{path} {names[0]}")
    assert missing == []


def test_every_mcp_tool_is_in_mcp_md() -> None:
    from agentpost.mcp.tools import ALL_TOOLS

    text = read("mcp.md")
    assert ALL_TOOLS
    assert [spec.name for spec in ALL_TOOLS if f"`{spec.name}`" not in text] == []


@pytest.mark.anyio
async def test_every_api_route_is_in_api_md(ctx: AppContext) -> None:
    from agentpost.api import create_app

    text = read("api.md")
    paths = create_app(ctx).openapi()["paths"]
    routes = [
        f"{method.upper()} `{path.removeprefix(API_PREFIX)}`"
        for path, operations in paths.items()
        if path.startswith(API_PREFIX)
        for method in operations
        if method in HTTP_METHODS
    ]
    assert routes
    assert [route for route in routes if route not in text] == []
