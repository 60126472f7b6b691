"""``agentpost serve`` as a process: the master key shown once, roles, clean exit on SIGTERM and
SIGINT, and a port that is taken reported as one line."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import pytest

from agentpost.testing.factories import is_admin_key

from .support import HTTP_LINE, READY_LINE, StartServer, agentpost_env

pytestmark = pytest.mark.e2e

MASTER_KEY = re.compile(r"mk_[0-9a-f]{48}")


def test_master_key_is_shown_on_first_start_only_and_stops_cleanly(
    start_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    args = ("--role", "worker,scheduler", "--data-dir", str(data_dir))

    first = start_server(*args, env=agentpost_env())
    first.wait_for(READY_LINE)
    assert first.stop(signal.SIGTERM) == 0
    keys = MASTER_KEY.findall(first.output)
    assert len(keys) == 1, first.output  # in the box, and in no log line
    assert "worker role" in first.output
    assert "scheduler role" in first.output
    assert "Traceback" not in first.output
    assert is_admin_key(data_dir, keys[0])

    second = start_server(*args, env=agentpost_env())
    second.wait_for(READY_LINE)
    assert second.stop(signal.SIGINT) == 0
    assert "mk_" not in second.output
    assert "HTTP listening" not in second.output
    assert "Traceback" not in second.output


def test_configured_master_key_is_never_printed(start_server: StartServer, tmp_path: Path) -> None:
    key = "mk_" + "cd" * 24
    env = agentpost_env(AGENTPOST_MASTER_KEY=key, AGENTPOST_LOG_LEVEL="DEBUG")

    server = start_server("--role", "worker", "--data-dir", str(tmp_path), env=env)
    server.wait_for(READY_LINE)

    assert server.stop() == 0
    assert key not in server.output
    assert is_admin_key(tmp_path, key)


def test_http_port_in_use_is_one_line_and_exit_1(start_server: StartServer, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = agentpost_env(AGENTPOST_MASTER_KEY="mk_" + "ef" * 24)

        server = start_server(
            "--role", "api", "--http-port", str(port), "--data-dir", str(tmp_path), env=env
        )
        status = server.process.wait(timeout=60)
        server.kill()

    assert status == 1
    errors = [line for line in server.lines if line.startswith("error: ")]
    assert errors == [f"error: cannot listen for HTTP on 127.0.0.1:{port}: Address already in use"]
    assert "Traceback" not in server.output
    assert not any(HTTP_LINE.search(line) for line in server.lines)
