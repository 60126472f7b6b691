"""``agentpost permission set|list|remove`` on a data dir with an agent and a configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentpost.config import Settings
from agentpost.services import accounts
from agentpost.services.context import build_context
from agentpost.testing.factories import make_agent
from agentpost.testing.permissions import make_config

from .support import Invoke


def prepare(data_dir: Path) -> str:
    """An agent alice and one SMTP configuration of the default owner; returns its id."""

    async def fill() -> str:
        ctx = await build_context(Settings(data_dir=data_dir))
        try:
            await accounts.ensure_bootstrap(ctx)
            await make_agent(ctx, "alice")
            owner = await accounts.admin_principal(ctx)
            return await make_config(ctx, owner.owner_id)
        finally:
            await ctx.close()

    return asyncio.run(fill())


def test_set_list_and_remove(agentpost: Invoke, data_dir: Path) -> None:
    config = prepare(data_dir)
    empty = agentpost("permission", "list", "alice")
    assert empty.exit_code == 0 and "has no permissions" in empty.stdout
    made = agentpost(
        "permission",
        "set",
        "alice",
        config,
        "--daily-limit",
        "20",
        "--hourly-limit",
        "5",
        "--allow",
        "*@Example.com",
        "--allow",
        "/^ops-[0-9]+@partner\\.org$/",
        "--default",
        "--json",
    )
    assert made.exit_code == 0, made.stderr
    row = made.json()
    assert (row["dailyLimit"], row["hourlyLimit"], row["isDefault"]) == (20, 5, True)
    assert row["allowedRecipients"] == ["*@example.com", "/^ops-[0-9]+@partner\\.org$/"]
    listed = agentpost("permission", "list", "alice", "--json").json()
    assert [p["configId"] for p in listed["permissions"]] == [config]
    table = agentpost("permission", "list", "alice")
    assert "*@example.com" in table.stdout
    off = agentpost("permission", "set", "alice", config, "--no-can-send", "--json").json()
    assert off["canSend"] is False and off["allowedRecipients"] == []
    assert agentpost("permission", "remove", "alice", config).exit_code == 0
    again = agentpost("permission", "remove", "alice", config)
    assert again.exit_code == 1 and "no permission" in again.stderr


def test_bad_input_is_one_line_error(agentpost: Invoke, data_dir: Path) -> None:
    config = prepare(data_dir)
    bad = agentpost("permission", "set", "alice", config, "--allow", "/(a+)+$/")
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "exponential" in bad.stderr
    ghost = agentpost("permission", "list", "ghost")
    assert ghost.exit_code == 1 and "not found" in ghost.stderr
    unknown = agentpost("permission", "set", "alice", "nope")
    assert unknown.exit_code == 1 and "no SMTP configuration" in unknown.stderr
