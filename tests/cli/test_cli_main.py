"""The console-script entry point: an unexpected error is still one line, unless asked."""

from __future__ import annotations

import pytest

from agentpost import cli
from agentpost.cli import agents


async def broken_list(*_args: object) -> list[object]:
    raise RuntimeError("disk on fire\nsecond line")


def test_unexpected_error_is_one_line_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setattr(agents, "_list", broken_list)
    monkeypatch.setattr("sys.argv", ["agentpost", "agent", "list", "--data-dir", str(tmp_path)])

    with pytest.raises(SystemExit) as stopped:
        cli.main()

    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: unexpected RuntimeError: disk on fire (run `agentpost --traceback ...` for details)"
    ]


def test_traceback_flag_lets_the_error_through(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setattr(agents, "_list", broken_list)
    argv = ["agentpost", "--traceback", "agent", "list", "--data-dir", str(tmp_path)]
    monkeypatch.setattr("sys.argv", argv)

    with pytest.raises(RuntimeError, match="disk on fire"):
        cli.main()
