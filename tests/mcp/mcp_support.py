"""Shared values of the MCP tests (a plain module: conftest modules are not importable by
name when several test folders have one)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from mcp import ClientSession

from agentpost.storage.records import AgentRecord

MASTER_KEY = "mk_" + "5a" * 24


@dataclass(frozen=True)
class Agent:
    record: AgentRecord
    key: str

    @property
    def address(self) -> str:
        return self.record.address


McpSession = Callable[..., AbstractAsyncContextManager[ClientSession]]
