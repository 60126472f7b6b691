"""``agentpost agent rotate-key`` and ``agentpost owner rotate-key``: the new key is printed
once and works, the old one stops working, and the command asks first unless --yes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from agentpost.config import Settings
from agentpost.errors import Unauthenticated
from agentpost.services import accounts
from agentpost.services.accounts import Principal
from agentpost.services.context import build_context

from .support import Invoke


def caller(data_dir: Path, key: str) -> Principal | None:
    """Who a key authenticates as through the services the server uses; None when refused."""

    async def check() -> Principal | None:
        ctx = await build_context(Settings(data_dir=data_dir))
        try:
            return await accounts.authenticate(ctx, key)
        except Unauthenticated:
            return None
        finally:
            await ctx.close()

    return asyncio.run(check())


def test_agent_rotate_key_json_prints_a_working_key_and_retires_the_old(
    agentpost: Invoke, data_dir: Path
) -> None:
    created = agentpost("agent", "create", "alice", "--json").json()

    rotated = agentpost("agent", "rotate-key", "alice", "--yes", "--json")

    assert rotated.exit_code == 0, rotated.stderr
    body = rotated.json()
    assert set(body) == set(created)  # the shape of `agent create --json`
    assert body["id"] == created["id"] and body["apiKey"] != created["apiKey"]
    assert caller(data_dir, created["apiKey"]) is None
    principal = caller(data_dir, body["apiKey"])
    assert principal is not None and principal.agent is not None
    assert principal.agent.id == created["id"]


def test_agent_rotate_key_asks_first_and_prints_the_key_once(
    agentpost: Invoke, data_dir: Path
) -> None:
    key = agentpost("agent", "create", "alice", "--json").json()["apiKey"]

    declined = agentpost("agent", "rotate-key", "alice", input="n\n")
    assert declined.exit_code == 1 and "ak_" not in declined.stdout
    assert caller(data_dir, key) is not None  # nothing changed

    confirmed = agentpost("agent", "rotate-key", "alice", input="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    printed = re.findall(r"ak_[0-9a-f]{48}", confirmed.stdout)
    assert len(printed) == 1 and printed[0] != key
    assert "shown only once" in confirmed.stdout
    assert caller(data_dir, key) is None
    assert caller(data_dir, printed[0]) is not None


def test_agent_rotate_key_of_an_unknown_agent_is_one_line(agentpost: Invoke) -> None:
    agentpost("agent", "create", "alice", "--json")
    missing = agentpost("agent", "rotate-key", "nobody", "--yes")
    assert missing.exit_code == 1 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [missing.stderr.strip()]
    assert "nobody" in missing.stderr


def test_owner_rotate_key_prints_a_working_owner_key(agentpost: Invoke, data_dir: Path) -> None:
    created = agentpost("owner", "create", "Dana", "--json").json()

    rotated = agentpost("owner", "rotate-key", created["id"], "--yes", "--json")

    assert rotated.exit_code == 0, rotated.stderr
    body = rotated.json()
    assert set(body) == set(created)  # the shape of `owner create --json`
    assert body["id"] == created["id"] and body["apiKey"].startswith("ok_")
    assert body["apiKey"] != created["apiKey"]
    assert caller(data_dir, created["apiKey"]) is None
    principal = caller(data_dir, body["apiKey"])
    assert principal is not None and principal.owner_id == created["id"]


def test_owner_rotate_key_refuses_the_default_owner(agentpost: Invoke) -> None:
    owners = agentpost("owner", "list", "--json").json()["owners"]
    default = next(owner["id"] for owner in owners if owner["isDefault"])
    refused = agentpost("owner", "rotate-key", default, "--yes")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "master key" in refused.stderr
