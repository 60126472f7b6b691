"""``agentpost pending list|show|approve|reject`` on a data dir with held mail."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentpost.config import Settings
from agentpost.services import accounts
from agentpost.services.context import build_context
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.testing.factories import make_agent

from .support import Invoke

SECRET = "the root password: Tr0ub4dor&3"


def hold_two(data_dir: Path) -> list[str]:
    """alice sends two messages the guard holds; returns their pending ids, oldest first."""

    async def fill() -> list[str]:
        ctx = await build_context(Settings(data_dir=data_dir))
        try:
            await accounts.ensure_bootstrap(ctx)
            alice = (await make_agent(ctx, "alice"))[0]
            ids = []
            for subject in ("first", "second"):
                request = SendRequest(to="ext@example.com", subject=subject, text=SECRET)
                result = await submit_message(ctx, alice, request)
                assert result.held is not None
                ids.append(result.held.pending_id)
            return ids
        finally:
            await ctx.close()

    return asyncio.run(fill())


def test_list_show_approve_reject(agentpost: Invoke, data_dir: Path) -> None:
    first, second = hold_two(data_dir)
    listed = agentpost("pending", "list", "--json").json()
    assert [p["id"] for p in listed["pending"]] == [second, first]
    assert listed["pending"][0]["warnings"][0]["ruleId"] == "ob_password_value"
    assert "Tr0ub4dor" not in str(listed)
    table = agentpost("pending", "list")
    assert table.exit_code == 0 and "(HIGH)" in table.stdout  # the table wraps narrow

    shown = agentpost("pending", "show", first, "--json").json()
    assert shown["status"] == "pending" and "Tr0ub4dor" in shown["text"]  # the owner reviews it
    stale = agentpost("pending", "approve", first, "--content-hash", "0" * 64)
    assert stale.exit_code == 1 and "contentHash does not match" in stale.stderr
    approved = agentpost(
        "pending", "approve", first, "--content-hash", shown["contentHash"], "--json"
    )
    assert approved.json()["status"] == "queued"
    again = agentpost("pending", "approve", first)
    assert again.exit_code == 1 and "already approved" in again.stderr

    rejected = agentpost("pending", "reject", second, "--json").json()
    assert (rejected["status"], rejected["resolvedBy"]) == ("rejected", "admin")
    only = agentpost("pending", "list", "--status", "approved", "--json").json()
    assert [p["id"] for p in only["pending"]] == [first]
    bad = agentpost("pending", "list", "--status", "maybe")
    assert bad.exit_code == 2
    missing = agentpost("pending", "show", "nope")
    assert missing.exit_code == 1 and "no held message" in missing.stderr
