"""Unix datagram sockets: the channel that carries events between server processes sharing
one SQLite file (PostgreSQL has LISTEN/NOTIFY, notify.py).

Every process on the file binds its own socket in ``<database file>.events/`` (mode 0700, next
to the file: two data dirs may name one database) and sends each payload to every other socket
there. Datagram sockets need no broker and no polling (the event loop's reader callback runs
when one arrives), and the kernel drops nothing silently: a send to a receiver whose queue is
full fails at once with EAGAIN. The sender never blocks on it: it keeps what was refused and
sends it again a few milliseconds later, before anything newer for that receiver, backing off
while the queue stays full. A process that stopped reading loses its oldest events (with a
warning) once a megabyte waits for it, as a slow stream subscriber loses its oldest events. A
socket whose process is gone refuses datagrams (ECONNREFUSED) and is removed by the first
sender to notice.

Linux lets about ten datagrams wait per receiver (``net.unix.max_dgram_qlen``), fewer than a
group commit publishes, so the payloads sent in one turn of the event loop travel together in
one datagram, each framed by its length.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.util import asbool

from agentpost.storage.notify import MAX_PAYLOAD

SUFFIX = ".sock"
DATAGRAM_BYTES = 32_768  # a batch's size; one payload (MAX_PAYLOAD at most) always fits
FRAME = struct.Struct("!I")  # each payload's length in bytes, before its UTF-8 text
SUN_PATH_MAX = 107  # bytes of a socket path the kernel accepts (sun_path less its NUL)
WARN_EVERY_SECONDS = 10.0  # lost batches are counted in between, not logged one by one
LISTING_SETTLE_NS = 1_000_000_000  # how long the directory must be still to trust a listing
# A peer whose queue is full gets what it refused again after RETRY_FIRST seconds, then after
# twice as long each time it is still full, up to RETRY_MAX; at most BACKLOG_BYTES are kept
# for it (a process that stopped reading), beyond that its oldest events are lost.
RETRY_FIRST = 0.005
RETRY_MAX = 1.0
BACKLOG_BYTES = 1 << 20

logger = logging.getLogger(__name__)


def database_file(sqlalchemy_url: str) -> Path | None:
    """The file of a SQLite URL, absolute; None for an in-memory database."""
    url = make_url(sqlalchemy_url)
    name = url.database
    if name and name.startswith("file:") and asbool(url.query.get("uri", False)):
        name, _, options = name[len("file:") :].partition("?")  # a SQLite URI, its own options
        if url.query.get("mode") == "memory" or "mode=memory" in options.split("&"):
            return None
    if not name or name == ":memory:":
        return None
    return Path(name).expanduser().resolve()


def socket_dir(database: Path) -> Path:
    """Where the processes on ``database`` bind their sockets."""
    return database.with_name(database.name + ".events")


class LocalChannel:
    """Send and receive text payloads among the processes on one SQLite file."""

    def __init__(self, database: Path, on_payload: Callable[[str], None]) -> None:
        self.directory = socket_dir(database)
        self._on_payload = on_payload
        self._name = f"{os.getpid()}-{secrets.token_hex(6)}{SUFFIX}"
        self._sock: socket.socket | None = None
        self._dir_fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outgoing: list[bytes] = []
        # Frames a peer's full queue refused, oldest first, and the retry that will resend them.
        self._backlog: dict[str, list[bytes]] = {}
        self._retry: asyncio.TimerHandle | None = None
        self._retry_delay = RETRY_FIRST
        # (the directory's mtime, the other sockets in it) of the last settled listing
        self._listing: tuple[int, list[str]] | None = None
        self._lost = 0
        self._warned_at = -WARN_EVERY_SECONDS

    @property
    def path(self) -> Path:
        """This process's socket."""
        return self.directory / self._name

    async def start(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Paths longer than sun_path are reached through an open descriptor of the directory.
        self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(self._address(self._name))
        except OSError:
            sock.close()
            os.close(self._dir_fd)
            raise
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def _address(self, name: str) -> str:
        full = str(self.directory / name)
        if len(os.fsencode(full)) <= SUN_PATH_MAX:
            return full
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    async def send(self, payload: str) -> None:
        """Queue ``payload`` for every other process; it leaves with the rest of this turn's."""
        data = payload.encode("utf-8")
        if len(data) > MAX_PAYLOAD:
            logger.warning("event too large to relay (%d bytes); not relayed", len(data))
            return
        if self._sock is None or self._loop is None:
            return
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(FRAME.pack(len(data)) + data)

    def _flush(self) -> None:
        frames, self._outgoing = self._outgoing, []
        if self._sock is None:
            return
        peers = self._peers() if frames else []
        # A peer with a backlog gets it first, then this turn's frames, in order.
        for peer in peers + [p for p in self._backlog if p not in peers]:
            waiting = self._backlog.pop(peer, [])
            self._send_frames(peer, waiting + frames if peer in peers else waiting)
        if self._backlog:
            self._retry_later()

    def _send_frames(self, peer: str, frames: list[bytes]) -> None:
        """Send ``frames`` to ``peer`` in as few datagrams as fit; what its full queue refuses
        is kept for a retry (up to BACKLOG_BYTES, beyond which the oldest are lost)."""
        sent = 0
        for batch, count in _batches(frames):
            outcome = self._send_to(peer, batch)
            if outcome is _Sent.FULL:
                self._keep(peer, frames[sent:])
                return
            if outcome is _Sent.GONE:
                return
            sent += count

    def _keep(self, peer: str, frames: list[bytes]) -> None:
        size = sum(len(f) for f in frames)
        lost = 0
        while lost < len(frames) and size > BACKLOG_BYTES:
            size -= len(frames[lost])
            lost += 1
        if lost:
            self._note_lost(peer, lost)
        if frames[lost:]:
            self._backlog[peer] = frames[lost:]

    def _retry_later(self) -> None:
        """Try the backlog again soon, then less and less often while a peer stays full."""
        if self._retry is not None or self._loop is None:
            return
        delay, self._retry_delay = self._retry_delay, min(self._retry_delay * 2, RETRY_MAX)
        self._retry = self._loop.call_later(delay, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        waiting = sum(len(frames) for frames in self._backlog.values())
        self._flush()
        if sum(len(frames) for frames in self._backlog.values()) < waiting:
            self._retry_delay = RETRY_FIRST  # a peer caught up: keep up with it

    def _peers(self) -> list[str]:
        """The other processes' sockets. Listing the directory costs more than the sends, so
        a listing is reused while the directory's mtime shows nothing was added or removed.
        The mtime moves in clock ticks of a few ms, so a change in the same tick as the
        listing would go unseen: a listing counts only once the directory has been still for
        LISTING_SETTLE_NS."""
        mtime = None
        if self._dir_fd is not None:
            with contextlib.suppress(OSError):
                mtime = os.fstat(self._dir_fd).st_mtime_ns
        if mtime is not None and self._listing is not None and self._listing[0] == mtime:
            return self._listing[1]
        try:
            with os.scandir(self.directory) as entries:
                peers = [
                    e.name for e in entries if e.name.endswith(SUFFIX) and e.name != self._name
                ]
        except OSError as exc:
            logger.warning("cannot list event sockets in %s: %s", self.directory, exc)
            return []
        settled = mtime is not None and time.time_ns() - mtime > LISTING_SETTLE_NS
        self._listing = (mtime, peers) if mtime is not None and settled else None
        return peers

    def _send_to(self, peer: str, batch: bytes) -> _Sent:
        assert self._sock is not None
        try:
            self._sock.sendto(batch, self._address(peer))
        except BlockingIOError:
            return _Sent.FULL
        except ConnectionRefusedError:  # its process is gone: nobody will read this socket
            (self.directory / peer).unlink(missing_ok=True)
            return _Sent.GONE
        except FileNotFoundError:  # closed since the listing
            return _Sent.GONE
        except OSError as exc:
            logger.warning("could not relay events to %s: %s", peer, exc)
            return _Sent.GONE
        return _Sent.OK

    def _note_lost(self, peer: str, count: int) -> None:
        self._lost += count
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            logger.warning(
                "event socket %s is full: %d event(s) lost by a process that does not read",
                peer,
                self._lost,
            )
            self._warned_at = now
            self._lost = 0

    def _readable(self) -> None:
        """Everything waiting on our socket, one payload at a time to ``on_payload``."""
        assert self._sock is not None
        while True:
            try:
                batch = self._sock.recv(DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            for payload in _payloads(batch):
                try:
                    self._on_payload(payload)
                except Exception:  # one bad handler must not cost the rest of the batch
                    logger.exception("an event handler failed on a relayed event")

    async def close(self) -> None:
        """Send what is queued (a CLI command's last notice), then remove our socket."""
        if self._sock is None:
            return
        await asyncio.sleep(0)  # relays scheduled just before (EventBus tasks) queue first
        self._flush()
        if self._retry is not None:  # a backlog left now is lost with this process
            self._retry.cancel()
            self._retry = None
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        (self.directory / self._name).unlink(missing_ok=True)
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None


class _Sent(enum.Enum):
    OK = "ok"
    FULL = "full"  # the peer's queue is full: try again later
    GONE = "gone"  # the peer went away: nothing more for it


def _batches(frames: list[bytes]) -> list[tuple[bytes, int]]:
    """Frames joined into datagrams of at most DATAGRAM_BYTES, each with its frame count."""
    batches: list[tuple[bytes, int]] = []
    current: list[bytes] = []
    size = 0
    for frame in frames:
        if current and size + len(frame) > DATAGRAM_BYTES:
            batches.append((b"".join(current), len(current)))
            current, size = [], 0
        current.append(frame)
        size += len(frame)
    if current:
        batches.append((b"".join(current), len(current)))
    return batches


def _payloads(batch: bytes) -> list[str]:
    """The payloads of one datagram; a malformed one ends the batch with a warning."""
    payloads: list[str] = []
    offset = 0
    while offset < len(batch):
        if offset + FRAME.size > len(batch):
            logger.warning("ignored a truncated relayed event")
            break
        (length,) = FRAME.unpack_from(batch, offset)
        start, offset = offset + FRAME.size, offset + FRAME.size + length
        if offset > len(batch):
            logger.warning("ignored a truncated relayed event")
            break
        try:
            payloads.append(batch[start:offset].decode("utf-8"))
        except UnicodeDecodeError:
            logger.warning("ignored a relayed event that is not UTF-8")
    return payloads
