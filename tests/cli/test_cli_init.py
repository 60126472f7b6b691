"""``agentpost init`` and ``migrate``: the data directory, the schema, the master key shown
exactly once, and settings errors reported as one line."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from agentpost.cli import app
from agentpost.testing.factories import is_admin_key

from .support import Invoke

MASTER_KEY = re.compile(r"mk_[0-9a-f]{48}")


def test_init_creates_the_data_dir_and_shows_the_master_key_once(
    agentpost: Invoke, data_dir: Path
) -> None:
    first = agentpost("init")

    assert first.exit_code == 0, first.stderr
    keys = MASTER_KEY.findall(first.stdout)
    assert len(keys) == 1
    assert (data_dir / "agentpost.db").is_file()
    assert is_admin_key(data_dir, keys[0])
    second = agentpost("init")
    assert second.exit_code == 0
    assert "mk_" not in second.stdout + second.stderr
    assert "already exists" in second.stdout
    assert is_admin_key(data_dir, keys[0])


def test_init_with_a_configured_master_key_prints_no_key(agentpost: Invoke, data_dir: Path) -> None:
    chosen = "mk_" + "ab" * 24

    outcome = agentpost("init", env={"AGENTPOST_MASTER_KEY": chosen})

    assert outcome.exit_code == 0
    assert "mk_" not in outcome.stdout + outcome.stderr
    assert is_admin_key(data_dir, chosen)


def test_migrate_reports_the_newest_schema(agentpost: Invoke, data_dir: Path) -> None:
    outcome = agentpost("migrate")

    assert outcome.exit_code == 0
    assert "newest schema" in outcome.stdout
    assert (data_dir / "agentpost.db").is_file()
    assert agentpost("migrate").exit_code == 0  # idempotent


def test_data_dir_comes_from_the_environment_without_the_flag(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-env"

    result = CliRunner().invoke(
        app, ["agent", "create", "alice", "--json"], env={"AGENTPOST_DATA_DIR": str(data_dir)}
    )

    assert result.exit_code == 0, result.stderr
    assert (data_dir / "agentpost.db").is_file()


def test_a_bad_setting_is_one_line_naming_flag_and_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["agent", "list", "--data-dir", str(tmp_path)], env={"AGENTPOST_ROLES": "mailman"}
    )

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--role " in lines[0]
    assert "AGENTPOST_ROLES" in lines[0]
    assert "mailman" not in result.stdout


def test_a_setting_without_a_flag_names_only_its_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["agent", "list", "--data-dir", str(tmp_path)],
        env={"AGENTPOST_MAX_MESSAGE_BYTES": "12"},
    )

    assert result.exit_code == 2
    expected = "error: invalid max_message_bytes (AGENTPOST_MAX_MESSAGE_BYTES): "
    assert result.stderr.startswith(expected)


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://app:hunter2@127.0.0.1:1/app"

    result = CliRunner().invoke(
        app, ["migrate", "--database-url", url, "--data-dir", str(tmp_path)]
    )

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: database postgresql+asyncpg://app:***@127.0.0.1:1/app")
    assert "hunter2" not in result.stderr
