"""A throwaway Dovecot IMAP server for tests of the relay gateway.

Dovecot from Debian (``dovecot-imapd``) runs in the foreground on 127.0.0.1, without systemd,
from a scratch directory holding its configuration, runtime sockets, a passwd-file of users and
their maildirs. Dovecot cannot report a port it chose itself, so a free port is picked first
and the start is retried if another process takes it in between.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from imapclient import IMAPClient  # type: ignore[import-untyped]

START_TIMEOUT = 10.0
START_ATTEMPTS = 3

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def dovecot_available() -> bool:
    return shutil.which("dovecot") is not None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Dovecot:
    """One running Dovecot; ``with Dovecot() as server:`` starts and stops it."""

    host: str = "127.0.0.1"
    port: int = 0
    # False: the server does not offer IDLE (RFC 2177), so clients must poll.
    idle: bool = True
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dc")))
    _process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        # Dovecot's auth process runs as the dovecot user and must reach the passwd-file.
        self.root.chmod(0o755)
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir(exist_ok=True)
        # Mail is stored as the unprivileged user the userdb names.
        shutil.chown(self.root / "mail", "nobody", "nogroup")
        (self.root / "users").touch()
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            config = CONFIG.format(root=self.root, port=self.port)
            if not self.idle:
                config += "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS NAMESPACE\n"
            (self.root / "dovecot.conf").write_text(config)
            if self._launch():
                return
        raise RuntimeError(f"dovecot did not start; see {self.root / 'dovecot.log'}")

    def _launch(self) -> bool:
        conf = str(self.root / "dovecot.conf")
        self._process = subprocess.Popen(  # noqa: S603 (a fixed command line)
            ["dovecot", "-F", "-c", conf],  # noqa: S607
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False  # exited: most likely the port was taken meanwhile
            if _listening(self.port):
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def add_user(self, username: str, password: str) -> None:
        """Dovecot re-reads the passwd-file when it changes: no restart needed."""
        with (self.root / "users").open("a") as handle:
            handle.write(f"{username}:{{PLAIN}}{password}\n")

    def client(self, username: str, password: str) -> IMAPClient:
        imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        imap.login(username, password)
        return imap

    def append(self, username: str, password: str, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message into a user's mailbox with IMAP APPEND (RFC 3501 §6.3.11)."""
        imap = self.client(username, password)
        try:
            imap.append(folder, raw, msg_time=datetime.now(UTC))
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def uids(self, username: str, password: str, folder: str = "INBOX") -> list[int]:
        imap = self.client(username, password)
        try:
            imap.select_folder(folder, readonly=True)
            return [int(uid) for uid in imap.search("ALL")]
        finally:
            with contextlib.suppress(Exception):
                imap.logout()
