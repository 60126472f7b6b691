"""``agentpost agent`` and ``agentpost owner``: create, list and delete on the database, keys
shown once and working, and every failure one line on stderr with a non-zero exit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentpost.config import Settings
from agentpost.errors import Unauthenticated
from agentpost.services import accounts
from agentpost.services.accounts import PrincipalKind
from agentpost.services.context import build_context

from .support import Invoke, Outcome


def principal_kind(data_dir: Path, key: str) -> tuple[PrincipalKind, str | None]:
    """Who a key authenticates as, checked through the services the server uses."""

    async def check() -> tuple[PrincipalKind, str | None]:
        ctx = await build_context(Settings(data_dir=data_dir))
        try:
            principal = await accounts.authenticate(ctx, key)
        finally:
            await ctx.close()
        return principal.kind, principal.agent.name if principal.agent else None

    return asyncio.run(check())


def assert_one_line_error(outcome: Outcome, *fragments: str) -> None:
    assert outcome.exit_code != 0
    assert outcome.stdout == ""
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_agent_create_json_prints_address_and_a_working_key(
    agentpost: Invoke, data_dir: Path
) -> None:
    created = agentpost("agent", "create", "alice", "--role", "researcher", "--json")

    assert created.exit_code == 0, created.stderr
    body = created.json()
    assert body["name"] == "alice"
    assert body["email"] == "alice@localhost"
    assert body["role"] == "researcher"
    assert body["apiKey"].startswith("ak_")
    assert body["createdAt"].endswith("Z")
    assert principal_kind(data_dir, body["apiKey"]) == (PrincipalKind.agent, "alice")


def test_first_command_shows_the_new_master_key_on_stderr_only(
    agentpost: Invoke, data_dir: Path
) -> None:
    created = agentpost("agent", "create", "alice", "--json")

    assert created.json()["name"] == "alice"  # stdout stays pure JSON
    key = next(word for word in created.stderr.split() if word.startswith("mk_"))
    assert principal_kind(data_dir, key) == (PrincipalKind.admin, None)
    again = agentpost("agent", "create", "bob", "--json")
    assert "mk_" not in again.stderr + again.stdout


def test_agent_create_uses_the_domain_of_the_database(agentpost: Invoke) -> None:
    """The first --domain sticks to the database: later commands adopt it without the flag,
    and a different domain (flag or environment) is refused instead of making an agent no
    mail can reach."""
    flagged = agentpost("agent", "create", "alice", "--domain", "Example.COM", "--json")
    adopted = agentpost("agent", "create", "bob", "--json")
    refused = agentpost("agent", "create", "carol", "--json", env={"AGENTPOST_DOMAIN": "mx.org"})

    assert flagged.json()["email"] == "alice@example.com"
    assert adopted.json()["email"] == "bob@example.com"
    assert refused.exit_code != 0
    assert "--domain example.com" in refused.stderr


def test_agent_create_human_output_shows_the_key_once(agentpost: Invoke) -> None:
    created = agentpost("agent", "create", "alice")

    assert created.exit_code == 0
    assert "alice@localhost" in created.stdout
    assert created.stdout.count("ak_") == 1
    listed = agentpost("agent", "list")
    assert "alice@localhost" in listed.stdout
    assert "ak_" not in listed.stdout


def test_agent_list_json_lists_every_agent_without_keys(agentpost: Invoke) -> None:
    assert agentpost("agent", "list", "--json").json() == {"agents": []}
    agentpost("agent", "create", "alice")
    agentpost("agent", "create", "bob", "--role", "writer")

    agents = agentpost("agent", "list", "--json").json()["agents"]

    assert sorted((a["name"], a["email"], a["role"]) for a in agents) == [
        ("alice", "alice@localhost", "secretary"),
        ("bob", "bob@localhost", "writer"),
    ]
    assert all("apiKey" not in agent for agent in agents)


def test_duplicate_agent_is_one_line_error(agentpost: Invoke) -> None:
    agentpost("agent", "create", "alice")

    duplicate = agentpost("agent", "create", "ALICE")

    assert_one_line_error(duplicate, "already exists")
    assert len(agentpost("agent", "list", "--json").json()["agents"]) == 1


def test_bad_name_and_bad_role_are_one_line_errors(agentpost: Invoke) -> None:
    agentpost("init")  # the master key box belongs to the first command, not to these
    assert_one_line_error(agentpost("agent", "create", "no spaces"), "name")
    assert_one_line_error(agentpost("agent", "create", ".hidden"), "name")
    assert_one_line_error(agentpost("agent", "create", "x" * 65), "name")
    assert_one_line_error(agentpost("agent", "create", "carol", "--role", "boss"), "role")
    assert agentpost("agent", "list", "--json").json() == {"agents": []}


def test_agent_delete_with_yes_removes_the_agent_and_its_key(
    agentpost: Invoke, data_dir: Path
) -> None:
    key = agentpost("agent", "create", "alice", "--json").json()["apiKey"]
    agentpost("agent", "create", "bob")

    deleted = agentpost("agent", "delete", "alice", "--yes", "--json")

    assert deleted.json() == {"deleted": True, "name": "alice", "email": "alice@localhost"}
    names = [a["name"] for a in agentpost("agent", "list", "--json").json()["agents"]]
    assert names == ["bob"]
    with pytest.raises(Unauthenticated):
        principal_kind(data_dir, key)


def test_agent_delete_asks_first_and_keeps_the_agent_on_no(agentpost: Invoke) -> None:
    agentpost("agent", "create", "alice")

    refused = agentpost("agent", "delete", "alice", input="n\n")

    assert refused.exit_code == 1
    assert "Delete agent" in refused.stdout
    assert [a["name"] for a in agentpost("agent", "list", "--json").json()["agents"]] == ["alice"]
    confirmed = agentpost("agent", "delete", "alice", input="y\n")
    assert confirmed.exit_code == 0
    assert agentpost("agent", "list", "--json").json() == {"agents": []}


def test_deleting_an_unknown_agent_is_one_line_error(agentpost: Invoke) -> None:
    agentpost("init")
    assert_one_line_error(agentpost("agent", "delete", "ghost", "--yes"), "ghost", "not found")


def test_owner_create_and_list(agentpost: Invoke, data_dir: Path) -> None:
    created = agentpost("owner", "create", "Dana", "--email", "dana@example.com", "--json")

    owner = created.json()
    assert owner["name"] == "Dana"
    assert owner["email"] == "dana@example.com"
    assert owner["isDefault"] is False
    assert principal_kind(data_dir, owner["apiKey"])[0] is PrincipalKind.owner
    owners = agentpost("owner", "list", "--json").json()["owners"]
    assert [(o["name"], o["isDefault"]) for o in owners] == [("default", True), ("Dana", False)]
    assert "Dana" in agentpost("owner", "list").stdout


def test_owner_needs_a_name(agentpost: Invoke) -> None:
    agentpost("init")
    assert_one_line_error(agentpost("owner", "create", "  "), "name")
