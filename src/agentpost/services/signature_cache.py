"""Each agent's default signature, kept for a moment: every send asks for it.

A read of its own per send cost more than a tenth of a send's CPU (a pooled connection, a trip
to the database thread, the statement), for a value that changes rarely and is, for most
agents, "none". Changes made through this process (services/signatures.py) forget the agent's
entry at once; other processes of a PostgreSQL deployment see a change within ``ttl`` seconds.
"""

from __future__ import annotations

import time

from agentpost.storage.engine import Database
from agentpost.storage.repositories import content as repo
from agentpost.storage.repositories.content import SignatureRecord


class SignatureCache:
    TTL_SECONDS = 2.0
    MAX_ENTRIES = 10_000

    def __init__(self, db: Database, *, ttl: float = TTL_SECONDS) -> None:
        self._db = db
        self._ttl = ttl
        self._entries: dict[str, tuple[float, SignatureRecord | None]] = {}
        # Bumped by every change: a read that began before a change must not store what it
        # read, or the old signature would come back for a while.
        self._generation = 0

    async def default_for(self, agent_id: str) -> SignatureRecord | None:
        """The agent's default signature (None: it has none)."""
        now = time.monotonic()
        entry = self._entries.get(agent_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = self._generation
        async with self._db.read() as conn:
            found = await repo.default_signature(conn, agent_id)
        if generation == self._generation:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[agent_id] = (now + self._ttl, found)
        return found

    def forget(self, agent_id: str) -> None:
        """The agent's signatures changed (call after the change committed)."""
        self._generation += 1
        self._entries.pop(agent_id, None)
