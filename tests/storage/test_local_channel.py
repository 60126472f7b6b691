"""The SQLite event channel on real Unix datagram sockets: payloads cross between channels on one
database file, dead processes' sockets are cleared, nothing blocks or raises on a full peer."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from agentpost.services.events import EventBus
from agentpost.storage import local_channel
from agentpost.storage.local_channel import (
    FRAME,
    SUN_PATH_MAX,
    LocalChannel,
    database_file,
    socket_dir,
)
from agentpost.storage.notify import MAX_PAYLOAD

pytestmark = pytest.mark.anyio

WAIT = 10  # a safety net for a hung test, never what a test measures
LOGGER = "agentpost.storage.local_channel"


@asynccontextmanager
async def channel(database: Path) -> AsyncIterator[tuple[LocalChannel, asyncio.Queue[str]]]:
    """A started channel on ``database`` and the queue of the payloads it receives."""
    received: asyncio.Queue[str] = asyncio.Queue()
    opened = LocalChannel(database, received.put_nowait)
    await opened.start()
    try:
        yield opened, received
    finally:
        await opened.close()


def sockets(database: Path) -> list[str]:
    return sorted(p.name for p in socket_dir(database).iterdir())


async def test_two_channels_on_one_file_exchange_payloads_both_ways(tmp_path: Path) -> None:
    """Each channel gets the other's payloads, in order, and never its own."""
    database = tmp_path / "agentpost.db"
    async with channel(database) as (first, first_got), channel(database) as (second, second_got):
        await first.send("one")
        await first.send('{"origin": "a", "text": "é"}')
        await second.send("two")
        assert await asyncio.wait_for(second_got.get(), WAIT) == "one"
        assert await asyncio.wait_for(second_got.get(), WAIT) == '{"origin": "a", "text": "é"}'
        assert await asyncio.wait_for(first_got.get(), WAIT) == "two"
        await second.send("sync")  # once this arrives, anything first sent itself would have
        assert await asyncio.wait_for(first_got.get(), WAIT) == "sync"
        assert first_got.empty() and second_got.empty()


async def test_the_directory_belongs_to_the_database_file_and_is_private(tmp_path: Path) -> None:
    """Sockets live next to the database (not in a data dir), one per process, mode 0700."""
    database = tmp_path / "shared" / "mail.db"
    async with channel(database) as (first, _got):
        directory = tmp_path / "shared" / "mail.db.events"
        assert first.path.parent == directory
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(first.path.stat().st_mode)
        assert first.path.name.startswith(f"{os.getpid()}-")


async def test_a_burst_larger_than_the_kernel_queue_arrives_whole(tmp_path: Path) -> None:
    """Linux queues about ten datagrams per receiver; a group commit's events (here 500, sent
    in one turn of the loop) travel batched, so none is lost to a receiver that has not read."""
    database = tmp_path / "agentpost.db"
    async with channel(database) as (first, _), channel(database) as (_second, got):
        for i in range(500):
            await first.send(json.dumps({"i": i, "pad": "x" * 200}))
        received = [json.loads(await asyncio.wait_for(got.get(), WAIT)) for _ in range(500)]
    assert [payload["i"] for payload in received] == list(range(500))


async def test_a_socket_left_by_a_dead_process_is_removed_on_send(tmp_path: Path) -> None:
    """A process killed without closing leaves its socket; the next send clears it and still
    reaches the live peers."""
    database = tmp_path / "agentpost.db"
    async with channel(database) as (first, _), channel(database) as (second, got):
        dead = socket_dir(database) / "99999-deadbeef.sock"
        script = (
            "import os, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "s.bind(sys.argv[1])\n"
            "os._exit(0)\n"
        )
        subprocess.run([sys.executable, "-c", script, str(dead)], check=True, timeout=WAIT)
        assert dead.exists()
        await first.send("after the crash")
        assert await asyncio.wait_for(got.get(), WAIT) == "after the crash"
        assert sockets(database) == sorted([first.path.name, second.path.name])


async def test_an_oversize_payload_is_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "agentpost.db"
    async with channel(database) as (first, _), channel(database) as (_second, got):
        with caplog.at_level(logging.WARNING, "agentpost.storage.local_channel"):
            await first.send("x" * (MAX_PAYLOAD + 1))
            await first.send("é" * (MAX_PAYLOAD // 2 + 1))  # counted in bytes, not characters
            await first.send("x" * MAX_PAYLOAD)
            assert await asyncio.wait_for(got.get(), WAIT) == "x" * MAX_PAYLOAD
        assert got.empty()
    assert [r.getMessage() for r in caplog.records] == [
        f"event too large to relay ({MAX_PAYLOAD + 1} bytes); not relayed",
        f"event too large to relay ({MAX_PAYLOAD + 2} bytes); not relayed",
    ]


def _read_payloads(sock: socket.socket) -> list[str]:
    """Every payload waiting on a raw receiver socket (frames: length, then UTF-8 text)."""
    payloads = []
    while True:
        try:
            batch = sock.recv(65536)
        except BlockingIOError:
            return payloads
        offset = 0
        while offset < len(batch):
            (length,) = FRAME.unpack_from(batch, offset)
            start = offset + FRAME.size
            payloads.append(batch[start : start + length].decode())
            offset = start + length


@contextmanager
def raw_peer(database: Path) -> Iterator[socket.socket]:
    """A socket among the channel's peers that reads only when the test does: a process
    that stopped reading."""
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        peer.bind(str(socket_dir(database) / "99998-0badf00d.sock"))
        peer.setblocking(False)
        yield peer
    finally:
        peer.close()


async def read_until(peer: socket.socket, done: Callable[[list[str]], bool]) -> list[str]:
    """Read ``peer`` as it fills (retries come later) until ``done`` says it has enough."""
    received: list[str] = []
    async with asyncio.timeout(WAIT):
        while not done(received):
            received += _read_payloads(peer)
            await asyncio.sleep(0.01)
    return received


async def test_a_receiver_that_falls_behind_still_gets_every_event_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A process that stops reading for a while fills its queue (the kernel keeps about ten
    datagrams): what it refuses is kept and sent again, before anything newer, so it gets
    every event in order once it reads again. The sender never blocks, and the other peers
    get each event at once."""
    database = tmp_path / "agentpost.db"
    async with channel(database) as (first, _), channel(database) as (_second, got):
        with raw_peer(database) as slow, caplog.at_level(logging.WARNING, LOGGER):
            for i in range(40):  # one datagram per turn of the loop: 40 > the kernel's queue
                await first.send(str(i))
                assert await asyncio.wait_for(got.get(), WAIT) == str(i)
            received = await read_until(slow, lambda r: len(r) >= 40)
    assert received == [str(i) for i in range(40)]
    assert not [r for r in caplog.records if "is full" in r.getMessage()]


async def test_a_receiver_that_never_reads_loses_its_oldest_events_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What waits for a process that stopped reading is bounded: past the limit its oldest
    events are dropped, counted in one warning rather than logged one by one, and what it
    finds when it reads at last are the newest."""
    monkeypatch.setattr(local_channel, "BACKLOG_BYTES", 2000)
    database = tmp_path / "agentpost.db"
    async with channel(database) as (first, _), channel(database) as (_second, got):
        with raw_peer(database) as stuck, caplog.at_level(logging.WARNING, LOGGER):
            for i in range(200):
                await first.send(f"{i:04d}" + "x" * 96)
                assert (await asyncio.wait_for(got.get(), WAIT)).startswith(f"{i:04d}")
            waiting = await read_until(stuck, lambda r: bool(r) and r[-1].startswith("0199"))
    numbers = [int(p[:4]) for p in waiting]
    assert numbers == sorted(numbers) and len(numbers) < 200
    lost = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(lost) == 1
    assert "99998-0badf00d.sock" in lost[0].getMessage()


async def test_close_removes_the_socket_and_sends_what_was_queued(tmp_path: Path) -> None:
    """A CLI command announces a change and closes at once: the notice still leaves, and its
    socket is gone."""
    database = tmp_path / "agentpost.db"
    serving_bus, command_bus = EventBus(), EventBus()
    heard: list[str | None] = []
    serving_bus.listen("principals", heard.append)
    serving = LocalChannel(database, serving_bus.receive)
    command = LocalChannel(database, command_bus.receive)
    await serving.start()
    try:
        await command.start()
        command_bus.attach_relay(command.send)
        assert sockets(database) == sorted([serving.path.name, command.path.name])
        command_bus.announce("principals", "digest")
        await command.close()
        assert sockets(database) == [serving.path.name]
        async with asyncio.timeout(WAIT):
            while not heard:
                await asyncio.sleep(0.01)
    finally:
        await serving.close()
    assert heard == ["digest"]
    assert sockets(database) == []


async def test_sockets_under_a_long_path_work_through_the_directory(tmp_path: Path) -> None:
    """A database deep enough that its socket paths exceed sun_path still gets a channel."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    database = deep / "agentpost.db"
    async with channel(database) as (first, first_got), channel(database) as (second, got):
        assert len(str(first.path).encode()) > SUN_PATH_MAX
        await first.send("deep")
        assert await asyncio.wait_for(got.get(), WAIT) == "deep"
        await second.send("back")
        assert await asyncio.wait_for(first_got.get(), WAIT) == "back"
        assert sockets(database) == sorted([first.path.name, second.path.name])


def test_the_database_file_of_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths resolve as SQLite resolves them; in-memory databases have no file."""
    monkeypatch.chdir(tmp_path)
    assert database_file(f"sqlite+aiosqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert database_file("sqlite+aiosqlite:///rel/b.db") == tmp_path / "rel" / "b.db"
    assert database_file("sqlite+aiosqlite:///file:c.db?uri=true") == tmp_path / "c.db"
    assert database_file("sqlite+aiosqlite://") is None
    assert database_file("sqlite+aiosqlite:///:memory:") is None
    assert database_file("sqlite+aiosqlite:///file:m?mode=memory&cache=shared&uri=true") is None


async def test_a_kept_listing_still_sees_processes_that_come_and_go(tmp_path: Path) -> None:
    """A sender reuses its listing of the sockets while the directory stays unchanged, and
    lists again when a process binds or goes: the newcomer gets the next payload and the
    departed one is no longer sent to."""
    database = tmp_path / "agentpost.db"
    async with channel(database) as (sender, _), channel(database) as (_, first_got):
        # Age the directory, so the sender's next listing is one it keeps.
        os.utime(socket_dir(database), ns=(0, 0))
        await sender.send("one")
        assert await asyncio.wait_for(first_got.get(), WAIT) == "one"
        async with channel(database) as (newcomer, newcomer_got):
            await sender.send("two")
            assert await asyncio.wait_for(newcomer_got.get(), WAIT) == "two"
            assert await asyncio.wait_for(first_got.get(), WAIT) == "two"
            departed = newcomer.path.name
        os.utime(socket_dir(database), ns=(0, 0))
        await sender.send("three")
        assert await asyncio.wait_for(first_got.get(), WAIT) == "three"
        assert departed not in sender._peers()
