"""Settings: the database URL people write becomes the async driver AgentPost runs on, and a
URL it cannot run on is refused at startup with what to write instead."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentpost import cli
from agentpost.config import Settings


@pytest.mark.parametrize(
    ("written", "used"),
    [
        (
            "postgresql://app:pw@db.internal:5432/mail",
            "postgresql+asyncpg://app:pw@db.internal:5432/mail",
        ),
        ("postgres://app@db.internal/mail", "postgresql+asyncpg://app@db.internal/mail"),
        ("postgresql+asyncpg://app@db.internal/mail", "postgresql+asyncpg://app@db.internal/mail"),
        ("sqlite:////var/lib/agentpost/mail.db", "sqlite+aiosqlite:////var/lib/agentpost/mail.db"),
        ("sqlite+aiosqlite:///mail.db", "sqlite+aiosqlite:///mail.db"),
    ],
)
def test_the_usual_urls_get_the_async_driver(written: str, used: str) -> None:
    assert Settings(database_url=written).resolved_database_url == used


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("sqlite+aiosqlite:///:memory:", "in-memory SQLite"),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite+aiosqlite:///file:m?mode=memory&uri=true", "in-memory SQLite"),
        ("mysql://app:pw@db.internal/mail", "uses mysql://"),
        ("postgresql+psycopg2://app@db.internal/mail", "through asyncpg"),
        ("db.internal", "not a database URL"),
    ],
)
def test_urls_it_cannot_run_on_are_refused_saying_what_to_write(written: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=written)
    assert says in str(refused.value)


def test_a_refused_url_stops_a_command_with_one_line_and_no_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setenv("AGENTPOST_DATABASE_URL", "mysql://app:hunter2secret@db.internal/mail")
    monkeypatch.setattr("sys.argv", ["agentpost", "agent", "list", "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "does not run on" in err
    assert "hunter2secret" not in err
