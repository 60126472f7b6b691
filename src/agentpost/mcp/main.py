"""Entry point: configuration from the environment, then the server on stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from agentpost.client import DEFAULT_URL, AgentPostClient
from agentpost.mcp.server import build_server

PREFIXES = ("AGENTPOST_", "AGENTICMAIL_")


@dataclass(frozen=True, slots=True)
class McpConfig:
    api_url: str = DEFAULT_URL
    api_key: str = ""
    master_key: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> McpConfig:
        """``AGENTPOST_*`` wins over the ``AGENTICMAIL_*`` name of the same setting."""

        def pick(suffix: str) -> str:
            for prefix in PREFIXES:
                value = env.get(prefix + suffix, "").strip()
                if value:
                    return value
            return ""

        return cls(
            api_url=pick("API_URL") or DEFAULT_URL,
            api_key=pick("API_KEY"),
            master_key=pick("MASTER_KEY"),
        )


async def serve_stdio(config: McpConfig) -> None:
    async with AgentPostClient(config.api_url, config.api_key) as client:
        admin = client.with_key(config.master_key) if config.master_key else None
        await build_server(client, admin).run_stdio_async()


def main() -> None:
    config = McpConfig.from_env(os.environ)
    if not config.api_key and not config.master_key:
        print(
            "agentpost mcp: set AGENTPOST_API_KEY to the agent's key (ak_...); "
            "every tool call will be refused without it.",
            file=sys.stderr,
        )
    asyncio.run(serve_stdio(config))
