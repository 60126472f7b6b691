"""Factories for tests and benchmarks: the admin principal and agents made through services."""

from __future__ import annotations

from agentpost.services import accounts
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord


async def admin_principal(context: AppContext) -> Principal:
    return await accounts.admin_principal(context)


async def make_agent(context: AppContext, name: str) -> tuple[AgentRecord, str]:
    """Create an agent as the admin; returns its record and API key."""
    return await accounts.create_agent(context, await admin_principal(context), name=name)
