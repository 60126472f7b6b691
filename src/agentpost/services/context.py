"""The service context: settings, database, event bus, key hasher and vault, built once at
startup."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentpost.config import Settings
from agentpost.services.events import EventBus
from agentpost.services.group_commit import GroupCommit
from agentpost.services.ttl_cache import TtlCache
from agentpost.storage.engine import Database
from agentpost.storage.local_channel import LocalChannel, database_file
from agentpost.storage.migrate import upgrade_to_head
from agentpost.storage.notify import Channel, PgChannel, asyncpg_dsn
from agentpost.storage.repositories.content import SignatureRecord
from agentpost.vault import Vault

if TYPE_CHECKING:
    from agentpost.services.accounts import Principal

logger = logging.getLogger(__name__)

SECRET_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)
# How long another process's change can go unseen where no relay tells it (ttl_cache.py).
CACHE_SECONDS = 2.0


class KeyHasher:
    """Keyed hashes (HMAC-SHA256) of API keys: fast enough for every request, useless to a
    thief of the database alone."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def hash(self, key: str) -> str:
        return hmac.new(self._secret, key.encode("utf-8"), hashlib.sha256).hexdigest()


def new_key(prefix: str) -> str:
    """``ak_``/``ok_``/``mk_`` followed by 48 hex characters (24 random bytes)."""
    return f"{prefix}{secrets.token_hex(24)}"


@dataclass
class AppContext:
    settings: Settings
    db: Database
    events: EventBus
    keys: KeyHasher
    vault: Vault
    # agent id → monotonic time of the last recorded activity (throttles writes).
    last_activity: dict[str, float] = field(default_factory=dict)
    channel: Channel | None = None
    # Sends' group committer (services/outbox.py makes it on first use, per event loop).
    send_groups: GroupCommit[Any, Any] | None = None
    # Key digest → the caller (services/accounts.py); agent id → default signature or None.
    principals: TtlCache[Principal] = field(init=False)
    signatures: TtlCache[SignatureRecord | None] = field(init=False)

    def __post_init__(self) -> None:
        self.principals = TtlCache(self.events, "principals", ttl=CACHE_SECONDS)
        self.signatures = TtlCache(self.events, "signatures", ttl=CACHE_SECONDS)

    async def close(self) -> None:
        await self.events.drain()
        if self.channel is not None:
            await self.channel.close()
        await self.db.dispose()


def load_secret(settings: Settings) -> bytes:
    """The hashing secret: from settings, else a 0600 file in the data dir made on first use."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    path: Path = settings.data_dir / SECRET_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode("utf-8")


def event_channel(db: Database, events: EventBus) -> Channel | None:
    """How events reach the other processes on this database: LISTEN/NOTIFY on PostgreSQL,
    sockets next to a SQLite file; none for in-memory SQLite (no other process can open it)."""
    if not db.is_sqlite:
        return PgChannel(asyncpg_dsn(db.url), events.receive)
    database = database_file(db.url)
    return None if database is None else LocalChannel(database, events.receive)


async def _started_channel(db: Database, events: EventBus) -> Channel | None:
    channel = event_channel(db, events)
    if channel is None:
        return None
    try:
        await channel.start()
    except OSError as exc:
        if not db.is_sqlite:
            raise  # PostgreSQL unreachable: the database itself is, too
        # The sockets' directory cannot be made or used (permissions, a file in the way):
        # this process still works, but other processes on the file will not hear from it.
        logger.warning("events will not reach other processes on this database: %s", exc)
        return None
    events.attach_relay(channel.send)
    return channel


async def build_context(settings: Settings, *, migrate: bool = True) -> AppContext:
    vault = Vault.from_settings(settings)  # first: a bad vault key stops startup early
    db = Database(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    if migrate:
        await upgrade_to_head(db)
    events = EventBus()
    channel = await _started_channel(db, events)
    return AppContext(
        settings=settings,
        db=db,
        events=events,
        keys=KeyHasher(load_secret(settings)),
        vault=vault,
        channel=channel,
    )
