"""PostgreSQL LISTEN/NOTIFY: the channel that carries events between server processes.
(Processes on one SQLite file use Unix datagram sockets instead: local_channel.py.)

Two dedicated asyncpg connections (outside SQLAlchemy's pool, which would recycle them): one
LISTENs for the whole life of the process, one sends. NOTIFY is transactional and delivered
to every listening session, so an event sent after a commit reaches every process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

CHANNEL = "agentpost_events"
MAX_PAYLOAD = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more (kept on SQLite)

logger = logging.getLogger(__name__)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The plain libpq DSN of a ``postgresql+asyncpg://`` SQLAlchemy URL."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Channel(Protocol):
    """What carries events between processes: it calls its ``on_payload`` with every payload
    another process sends, and ``send`` never raises for a process that cannot take one."""

    async def start(self) -> None: ...

    async def send(self, payload: str) -> None: ...

    async def close(self) -> None: ...


class PgChannel:
    """Send and receive text payloads on CHANNEL."""

    def __init__(self, dsn: str, on_payload: Callable[[str], None]) -> None:
        self._dsn = dsn
        self._on_payload = on_payload
        self._listener: Any = None
        self._sender: Any = None
        self._send_lock = asyncio.Lock()

    async def start(self) -> None:
        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(CHANNEL, self._received)
        self._sender = await asyncpg.connect(self._dsn)

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_payload(payload)

    async def send(self, payload: str) -> None:
        if len(payload.encode("utf-8")) > MAX_PAYLOAD:
            logger.warning("event too large for NOTIFY (%d bytes); not relayed", len(payload))
            return
        async with self._send_lock:  # one connection, one statement at a time, in order
            await self._sender.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

    async def close(self) -> None:
        for conn in (self._listener, self._sender):
            if conn is not None:
                await conn.close()
