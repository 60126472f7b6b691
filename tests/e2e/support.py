"""Helpers for running ``agentpost`` as real processes: the server with its output read line by
line, and one-shot CLI commands. Ports are always 0; readiness is read from the server's output."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_SECONDS = 60.0
STOP_SECONDS = 30.0
HTTP_LINE = re.compile(r"AgentPost HTTP listening on (http://\S+:(\d+))")
SMTP_LINE = re.compile(r"AgentPost SMTP listening on (\S+):(\d+)")
READY_LINE = re.compile(r"AgentPost ready")


def agentpost_env(**settings: str) -> dict[str, str]:
    """The test's environment (already free of AGENTPOST_*), plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTPOST_", "AGENTICMAIL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


@dataclass
class ServerProcess:
    """``python -m agentpost serve …`` with stdout and stderr merged and read by a thread."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _pending: queue.Queue[str | None] = field(default_factory=queue.Queue)

    _reader: threading.Thread | None = None
    _ended: bool = False

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._pending.put(line.rstrip("\n"))
        self._pending.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = STARTUP_SECONDS) -> re.Match[str]:
        """The first output line (already seen or still to come) matching ``pattern``."""
        for seen in self.lines:
            if found := pattern.search(seen):
                return found
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._pending.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._ended = True
                raise AssertionError(f"server exited before {pattern.pattern!r}:\n{self.output}")
            self.lines.append(line)
            if found := pattern.search(line):
                return found
        raise AssertionError(f"no {pattern.pattern!r} within {timeout}s:\n{self.output}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` and return the exit status; the rest of the output is kept."""
        self.process.send_signal(signum)
        status = self.process.wait(timeout=STOP_SECONDS)
        self._drain()
        return status

    def _drain(self) -> None:
        """Collect the output up to the end of the stream (the process has exited)."""
        if self._ended:
            return
        while (line := self._pending.get(timeout=STOP_SECONDS)) is not None:
            self.lines.append(line)
        self._ended = True
        self._pending.put(None)  # later waits see the end too

    def kill(self) -> None:
        """Make sure the process is gone and its pipe closed (test teardown)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=STOP_SECONDS)
        if self._reader is not None:
            self._reader.join(timeout=STOP_SECONDS)
        self._drain()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server_process(*args: str, env: dict[str, str]) -> ServerProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentpost", "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return ServerProcess(process)


def run_cli(*args: str, env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    """One ``agentpost`` command as its own process, against ``data_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "agentpost", *args, "--data-dir", str(data_dir)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=STARTUP_SECONDS,
        check=False,
    )


StartServer = Callable[..., ServerProcess]
"""The ``start_server`` fixture: ``start_server(*serve_args, env=...)``."""
