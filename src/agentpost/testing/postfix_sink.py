"""Postfix's ``smtp-sink`` as a test peer: a real, fast SMTP server written in C that offers
PIPELINING, takes every message and (here) dumps each transaction to a file, so a test can
read back the envelope and the body it received.

It comes with Debian's ``postfix`` package, which ``make test`` installs (research/deps.md).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SMTP_SINK = "/usr/sbin/smtp-sink"
START_SECONDS = 10.0


def postfix_sink_available() -> bool:
    return shutil.which(SMTP_SINK) is not None


@dataclass(frozen=True, slots=True)
class Dumped:
    """One transaction as smtp-sink wrote it down."""

    sender: str
    recipients: list[str]
    body: bytes  # the message as received, dots unstuffed, after smtp-sink's Received line


class PostfixSink:
    """``with PostfixSink() as sink:`` smtp-sink on 127.0.0.1:``sink.port``; read what it got
    with ``received()`` before the block ends (the dumps go with it)."""

    def __init__(self) -> None:
        self.dump_dir = Path()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PostfixSink:
        # Its own directory in /tmp: smtp-sink writes as the user it switched to, who cannot
        # reach into pytest's private temporary directories.
        self.dump_dir = Path(tempfile.mkdtemp(prefix="agentpost-smtp-sink-"))
        self.dump_dir.chmod(0o777)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [SMTP_SINK, "-d", f"{self.dump_dir}/%H%M%S.", f"127.0.0.1:{self.port}", "64"]
        if os.geteuid() == 0:  # it refuses to run as root without a user to switch to
            command[1:1] = ["-u", "nobody"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
        self._wait_listening()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
        shutil.rmtree(self.dump_dir, ignore_errors=True)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("smtp-sink did not start listening")

    def received(self) -> list[Dumped]:
        """Every transaction dumped so far (in no particular order: the files are named by
        the second they arrived in, then a random number)."""
        return [_parse(path.read_bytes()) for path in sorted(self.dump_dir.iterdir())]


def _parse(dump: bytes) -> Dumped:
    head, _, message = dump.partition(b"Received: ")
    sender, recipients = "", []
    for line in head.decode().splitlines():
        name, _, value = line.partition(": ")
        if name == "X-Mail-Args":
            sender = value.split(">")[0].lstrip("<")
        elif name == "X-Rcpt-Args":
            recipients.append(value.split(">")[0].lstrip("<"))
    # smtp-sink's own Received field runs to the first line that does not start with space.
    lines = message.split(b"\n")
    first = next(i for i, line in enumerate(lines[1:], 1) if not line[:1].isspace())
    return Dumped(sender, recipients, b"\n".join(lines[first:]))
