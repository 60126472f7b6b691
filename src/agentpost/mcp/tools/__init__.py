"""Every MCP tool, in the order hosts list them (mail first, accounts last)."""

from __future__ import annotations

from typing import Any

from agentpost.mcp.registry import ToolSpec
from agentpost.mcp.tools import (
    accounts,
    content,
    gateway,
    organising,
    pending,
    policy,
    reading,
    sending,
    spam,
    tasks,
    waiting,
    workflow,
)

ALL_TOOLS: tuple[ToolSpec[Any], ...] = (
    *sending.TOOLS,
    *reading.TOOLS,
    *organising.TOOLS,
    *waiting.TOOLS,
    *content.TOOLS,
    *workflow.TOOLS,
    *pending.TOOLS,
    *spam.TOOLS,
    *tasks.TOOLS,
    *policy.TOOLS,
    *accounts.TOOLS,
    *gateway.TOOLS,
)


def tool_by_name(name: str) -> ToolSpec[Any] | None:
    return next((spec for spec in ALL_TOOLS if spec.name == name), None)
