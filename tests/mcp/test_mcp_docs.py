"""docs/mcp.md documents every tool with every parameter, its type and whether it is required,
and the configuration variables the server reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agentpost.mcp.main import PREFIXES
from agentpost.mcp.tools import ALL_TOOLS

DOCS = Path(__file__).resolve().parents[2] / "docs"
# docs/mcp.md and its continuations docs/mcp/<area>.md
DOC = "\n".join(
    part.read_text(encoding="utf-8")
    for part in [DOCS / "mcp.md", *sorted((DOCS / "mcp").glob("*.md"))]
)
HEADING = re.compile(r"^### `([a-z_]+)`", re.MULTILINE)


def section(name: str) -> str:
    found = {m.group(1): m for m in HEADING.finditer(DOC)}
    start = found[name].end()
    later = [m.start() for m in found.values() if m.start() > start]
    return DOC[start : min(later, default=len(DOC))]


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=lambda spec: spec.name)
def test_each_parameter_is_documented_with_type_and_required(spec: Any) -> None:
    schema = spec.input_schema()
    text = section(spec.name)
    assert "**Returns:**" in text
    for name, prop in schema["properties"].items():
        required = "yes" if name in schema.get("required", []) else "no"
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"{spec.name}.{name} is not documented"
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[2] == required, row
        if "enum" not in prop:
            assert cells[1].split()[0] == prop["type"], row


def test_configuration_variables_and_the_resource_are_documented() -> None:
    for prefix in PREFIXES:
        for name in ("API_URL", "API_KEY", "MASTER_KEY"):
            assert f"`{prefix}{name}`" in DOC
    assert "`agenticmail://inbox`" in DOC
    assert '"mcpServers"' in DOC
