"""The relay poller (scheduler role): one watcher per relay account, fetching new mail.

Each watcher logs in, imports everything above the account's high-water mark, then waits for
more: with IMAP IDLE (RFC 2177) when the server offers it, so new mail arrives within moments,
else by polling every ``relay_poll_seconds``. After an error it records the error on the account
(check_gateway_status shows it) and reconnects after a wait that doubles up to
``relay_max_backoff_seconds``. The list of accounts is re-read every ``relay_poll_seconds``, so
accounts set up through any process are picked up, and changed or removed ones restarted or
stopped.

The blocking IMAP calls run in worker threads; a ``threading.Event`` lets an IDLE in progress
notice a shutdown within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta

from agentpost.errors import AgentPostError
from agentpost.relay.imap import ImapFailure, ImapSession, open_session
from agentpost.services import relay, relay_sync
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.repositories import relay as repo
from agentpost.storage.repositories.relay import RelayAccountRecord

logger = logging.getLogger(__name__)

BATCH = 50
# After a UIDVALIDITY change, mail this far back from the last sync is looked at again.
EPOCH_OVERLAP = timedelta(days=1)


class _Watch:
    """One account's watcher task and the flag that stops it."""

    def __init__(self, task: asyncio.Task[None], stop: threading.Event, version: object) -> None:
        self.task = task
        self.stop = stop
        self.version = version


class RelayPoller:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._watches: dict[str, _Watch] = {}
        self._stopping = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        # Set whenever a watcher's IDLE has been accepted by the server, and whenever one
        # recorded an error on its account (tests and health checks wait on these).
        self.idling = asyncio.Event()
        self.failed = asyncio.Event()

    async def start(self) -> None:
        await self.refresh()
        self._main = asyncio.create_task(self._run(), name="relay-poller")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=self._ctx.settings.relay_poll_seconds
                )
            if not self._stopping.is_set():
                try:
                    await self.refresh()
                except Exception:
                    logger.exception("could not re-read the relay accounts")

    async def refresh(self) -> None:
        """Start watchers for new accounts, restart changed ones, stop removed ones."""
        async with self._ctx.db.read() as conn:
            accounts = {a.id: a for a in await repo.all_accounts(conn)}
        for account_id in list(self._watches):
            account = accounts.get(account_id)
            watch = self._watches[account_id]
            if account is None or _version(account) != watch.version or watch.task.done():
                await self._stop_watch(account_id)
        for account_id, account in accounts.items():
            if account_id not in self._watches:
                stop = threading.Event()
                task = asyncio.create_task(self._watch(account_id, stop), name="relay-watch")
                self._watches[account_id] = _Watch(task, stop, _version(account))

    async def _stop_watch(self, account_id: str) -> None:
        watch = self._watches.pop(account_id)
        watch.stop.set()
        watch.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watch.task

    async def close(self) -> None:
        self._stopping.set()
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        for account_id in list(self._watches):
            await self._stop_watch(account_id)

    async def _watch(self, account_id: str, stop: threading.Event) -> None:
        settings = self._ctx.settings
        backoff = settings.relay_poll_seconds
        while not stop.is_set():
            try:
                await self._session(account_id, stop)
                return  # the account is gone
            except (ImapFailure, AgentPostError) as exc:
                message = exc.message
            except OSError as exc:
                message = f"relay connection failed: {exc}"
            logger.warning("relay account %s: %s", account_id, message)
            await relay.record_sync(self._ctx, account_id, error=message, at=now_utc())
            self.failed.set()
            await _sleep(stop, backoff)
            backoff = min(backoff * 2, settings.relay_max_backoff_seconds)

    async def _session(self, account_id: str, stop: threading.Event) -> None:
        """Log in and keep the account in sync until ``stop`` or an error."""
        account = await _load(self._ctx, account_id)
        if account is None:
            return
        endpoint = relay.imap_endpoint(self._ctx, account)
        session = await asyncio.to_thread(open_session, endpoint)
        loop = asyncio.get_running_loop()

        def idle_started() -> None:  # called from the IMAP thread
            loop.call_soon_threadsafe(self.idling.set)

        try:
            while not stop.is_set():
                if not await sync_account(self._ctx, account_id, session):
                    return
                if session.can_idle:
                    await asyncio.to_thread(
                        session.wait_for_change,
                        self._ctx.settings.relay_idle_seconds,
                        stop,
                        idle_started,
                    )
                else:
                    await _sleep(stop, self._ctx.settings.relay_poll_seconds)
        finally:
            await asyncio.to_thread(session.close)


def _version(account: RelayAccountRecord) -> object:
    """What makes a running watcher stale: new credentials or another server or mailbox."""
    return (account.imap_host, account.imap_port, account.imap_password, account.mailbox)


async def _load(ctx: AppContext, account_id: str) -> RelayAccountRecord | None:
    async with ctx.db.read() as conn:
        return await repo.account_by_id(conn, account_id)


async def _sleep(stop: threading.Event, seconds: float) -> None:
    """Wait ``seconds`` or until ``stop``; the task is cancelled on shutdown anyway."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not stop.is_set():
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 1.0))


async def sync_account(ctx: AppContext, account_id: str, session: ImapSession) -> bool:
    """Import everything new in the account's mailbox; False when the account is gone."""
    account = await _load(ctx, account_id)
    if account is None:
        return False
    state = await asyncio.to_thread(session.select, account.mailbox)
    if account.uid_validity != state.uid_validity:
        first = state.uid_next
        if account.last_sync_at is not None:
            day = (account.last_sync_at - EPOCH_OVERLAP).date()
            found = await asyncio.to_thread(session.uids_since, day)
            first = found[0] if found else state.uid_next
        await relay_sync.restart_epoch(ctx, account_id, state.uid_validity, first)
        account = await _load(ctx, account_id)
        if account is None:
            return False
    while True:
        uids = await asyncio.to_thread(session.uids_after, account.last_seen_uid, BATCH)
        if not uids:
            break
        for uid in uids:
            raw = await asyncio.to_thread(session.fetch_raw, uid)
            if raw is None:
                await relay_sync.skip_missing(ctx, account_id, state.uid_validity, uid)
                continue
            item = await relay_sync.prepare(uid, raw)
            await relay_sync.import_next(ctx, account_id, state.uid_validity, item)
        account = await _load(ctx, account_id)
        if account is None:
            return False

    async def fetch(uid: int) -> bytes | None:
        return await asyncio.to_thread(session.fetch_raw, uid)

    # Messages held for a full mailbox go in once their agent has room (services/relay_sync).
    await relay_sync.retry_held(ctx, account_id, state.uid_validity, fetch)
    await relay.record_sync(ctx, account_id, error=None, at=now_utc())
    return True
