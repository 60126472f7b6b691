"""Factories for tests and benchmarks: the admin principal and agents made through services."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentpost.config import Settings
from agentpost.services import accounts
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext, build_context
from agentpost.storage.records import AgentRecord


async def admin_principal(context: AppContext) -> Principal:
    return await accounts.admin_principal(context)


async def make_agent(context: AppContext, name: str) -> tuple[AgentRecord, str]:
    """Create an agent as the admin; returns its record and API key."""
    return await accounts.create_agent(context, await admin_principal(context), name=name)


def is_admin_key(data_dir: Path, key: str) -> bool:
    """Whether ``key`` authenticates as the admin of the SQLite database in ``data_dir``
    (for tests that drive a CLI or server process and must check the key it printed)."""

    async def check() -> bool:
        ctx = await build_context(Settings(data_dir=data_dir))
        try:
            return (await accounts.authenticate(ctx, key)).kind is PrincipalKind.admin
        finally:
            await ctx.close()

    return asyncio.run(check())
