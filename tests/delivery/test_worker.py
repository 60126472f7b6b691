"""The delivery worker against loopback peers, on SQLite and PostgreSQL: delivery, retries,
bounces, deadlines, no configuration, crashes mid-send, and prompt wake-ups."""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from agentpost.config import Settings
from agentpost.delivery import worker as worker_module
from agentpost.delivery.worker import start_worker
from agentpost.domain.folders import INBOX, SENT
from agentpost.domain.transport import Security, SmtpEndpoint
from agentpost.services import accounts, mailbox
from agentpost.services.context import AppContext, build_context
from agentpost.services.delivery import NO_CONFIGURATION
from agentpost.smtp.tls import load_tls_context
from agentpost.storage.tables.audit import audit_log
from agentpost.testing.fake_smtp import STALL, FakeRelay, SmtpSink
from agentpost.testing.postgres import create_database, database_url, drop_database

from .support import agent, attempts, endpoint, external_rows, send, worker

pytestmark = pytest.mark.anyio


async def audit_ops(ctx: AppContext) -> list[tuple[str, str, int]]:
    async with ctx.db.read() as conn:
        result = await conn.execute(
            select(audit_log.c.operation, audit_log.c.status, audit_log.c.recipients)
            .where(audit_log.c.operation.like("send.%"))
            .order_by(audit_log.c.seq)
        )
        return [tuple(r) for r in result.all()]  # type: ignore[misc]


async def test_delivers_in_one_transaction_and_records_it(
    any_ctx: AppContext, sink: SmtpSink
) -> None:
    """Two external recipients and a Bcc: one SMTP transaction, three RCPTs, no Bcc header;
    every row delivered with its reply, an attempt row each, one send.delivered audit row."""
    alice = await agent(any_ctx, "alice")
    await agent(any_ctx, "bob")
    result = await send(
        any_ctx,
        alice,
        ["carol@example.com", "bob@localhost"],
        "Quarterly",
        text="numbers",
        cc="dave@example.org",
        bcc="secret@example.net",
    )
    assert result.status == "queued"
    async with worker(any_ctx, endpoint(sink.port)) as running:
        (got,) = await sink.wait_for(1)
        await running.worker.wait_recorded(1)
    assert sorted(got.recipients) == ["carol@example.com", "dave@example.org", "secret@example.net"]
    assert got.sender == "alice@localhost"
    headers = message_from_bytes(got.data)
    assert headers["Bcc"] is None and b"secret@example.net" not in got.data
    assert headers["Subject"] == "Quarterly"

    found = await external_rows(any_ctx)
    assert {r["status"] for r in found} == {"delivered"}
    assert all(r["last_code"] == 250 and r["delivered_at"] and r["attempts"] == 1 for r in found)
    assert all(r["claimed_by"] is None and r["last_error"] is None for r in found)
    assert [a["outcome"] for a in await attempts(any_ctx)] == ["delivered"] * 3
    assert ("send.delivered", "ok", 3) in await audit_ops(any_ctx)

    view = await mailbox.read_message(any_ctx, alice, result.uid, SENT)
    shown = {d.recipient: d for d in view.deliveries}
    assert shown["carol@example.com"].status == "delivered"
    assert shown["carol@example.com"].delivered_at is not None
    assert shown["bob@localhost"].status == "delivered"  # the local copy, as before


async def test_temporary_failure_is_retried_then_delivered(
    any_ctx: AppContext, relay: FakeRelay
) -> None:
    alice = await agent(any_ctx, "alice")
    relay.script.add("DOT", "451 4.3.0 try again later", "421 4.4.2 busy")
    await send(any_ctx, alice, "carol@example.com")
    async with worker(any_ctx, endpoint(relay.port)) as running:
        await relay.wait_for(1)
        await running.worker.wait_recorded(3)
    (row,) = await external_rows(any_ctx)
    assert (row["status"], row["attempts"], row["last_code"]) == ("delivered", 3, 250)
    history = await attempts(any_ctx)
    assert [(a["attempt"], a["outcome"], a["code"]) for a in history] == [
        (1, "deferred", 451),
        (2, "deferred", 421),
        (3, "delivered", 250),
    ]
    assert "try again later" in history[0]["reply"]
    ops = await audit_ops(any_ctx)
    assert [op for op, _status, _n in ops if op != "send.accepted"] == [
        "send.deferred",
        "send.deferred",
        "send.delivered",
    ]


async def test_permanent_refusal_bounces_to_the_sender(
    any_ctx: AppContext, relay: FakeRelay
) -> None:
    """A 550 for one recipient fails that one at once (no retry) and puts a bounce notice
    in the sender's INBOX; the other recipient is delivered."""
    alice = await agent(any_ctx, "alice")
    relay.script.rcpt["ghost@example.com"] = "550 5.1.1 <ghost@example.com>: mailbox unknown"
    sent = await send(any_ctx, alice, ["ghost@example.com", "carol@example.com"], "Plans")
    async with any_ctx.events.subscribe(alice.id) as events:
        async with worker(any_ctx, endpoint(relay.port)) as running:
            await running.worker.wait_recorded(1)
        event = events.get_nowait()
    assert event.type == "new" and event.data["folder"] == INBOX
    by_rcpt = {r["recipient"]: r for r in await external_rows(any_ctx)}
    assert (by_rcpt["ghost@example.com"]["status"], by_rcpt["ghost@example.com"]["attempts"]) == (
        "failed",
        1,
    )
    assert by_rcpt["carol@example.com"]["status"] == "delivered"

    page = await mailbox.list_folder(any_ctx, alice, INBOX, limit=10, offset=0)
    (notice,) = page.messages
    assert notice.from_addr == "MAILER-DAEMON@localhost"
    assert "Plans" in notice.subject
    bounce = await mailbox.read_message(any_ctx, alice, notice.uid, INBOX)
    assert "ghost@example.com" in bounce.parsed.text
    assert "550 5.1.1" in bounce.parsed.text and "mailbox unknown" in bounce.parsed.text
    assert "What to do" in bounce.parsed.text
    assert bounce.record.in_reply_to == sent.message_id  # threads with the original
    raw = await mailbox.read_raw(any_ctx, alice, notice.uid, INBOX)
    assert b'report-type="delivery-status"' in raw and b"Status: 5.1.1" in raw
    assert ("send.failed", "failed", 1) in await audit_ops(any_ctx)


async def test_deadline_ends_retries_with_a_bounce(ctx: AppContext, relay: FakeRelay) -> None:
    ctx.settings = ctx.settings.model_copy(update={"delivery_deadline_seconds": 1})
    relay.script.add("MAIL", *["451 4.7.0 greylisted"] * 1000)
    alice = await agent(ctx, "alice")
    await send(ctx, alice, "carol@example.com")
    async with ctx.events.subscribe(alice.id) as events, worker(ctx, endpoint(relay.port)):
        await events.get()  # the bounce
    (row,) = await external_rows(ctx)
    assert row["status"] == "failed" and row["attempts"] > 1 and row["last_code"] == 451
    page = await mailbox.list_folder(ctx, alice, INBOX, limit=10, offset=0)
    bounce = await mailbox.read_message(ctx, alice, page.messages[0].uid, INBOX)
    assert "deadline" in bounce.parsed.text and "greylisted" in bounce.parsed.text


async def test_without_a_configuration_mail_waits_then_bounces(ctx: AppContext) -> None:
    alice = await agent(ctx, "alice")
    await send(ctx, alice, "carol@example.com")
    async with worker(ctx, None) as running:
        await running.worker.wait_recorded(1)
    (row,) = await external_rows(ctx)
    assert (row["status"], row["attempts"]) == ("queued", 0)
    assert row["last_error"] == NO_CONFIGURATION
    assert await attempts(ctx) == []  # waiting is not an attempt

    ctx.settings = ctx.settings.model_copy(update={"delivery_deadline_seconds": 0})
    await send(ctx, alice, "dave@example.com", "Second")
    async with worker(ctx, None) as running:
        await running.worker.wait_recorded(1)
    rows = {r["recipient"]: r for r in await external_rows(ctx)}
    assert rows["dave@example.com"]["status"] == "failed"
    assert rows["carol@example.com"]["status"] == "queued"  # its own deadline still runs
    page = await mailbox.list_folder(ctx, alice, INBOX, limit=10, offset=0)
    bounce = await mailbox.read_message(ctx, alice, page.messages[0].uid, INBOX)
    assert "owner must add one" in bounce.parsed.text


async def test_crash_mid_send_is_retried_after_the_lease(
    any_ctx: AppContext, relay: FakeRelay
) -> None:
    """The worker dies while the server holds the final dot: the row stays ``sending`` under
    its lease, and once the lease runs out another worker sends it; nothing is lost."""
    any_ctx.settings = any_ctx.settings.model_copy(update={"delivery_lease_seconds": 0.5})
    relay.script.add("DOT", STALL)
    alice = await agent(any_ctx, "alice")
    await send(any_ctx, alice, "carol@example.com")
    async with worker(any_ctx, endpoint(relay.port), name="first") as doomed:
        await relay.stalled.wait()
        await doomed.crash()
    (row,) = await external_rows(any_ctx)
    assert (row["status"], row["claimed_by"]) == ("sending", "first")
    async with worker(any_ctx, endpoint(relay.port), name="second") as running:
        await relay.wait_for(1)
        await running.worker.wait_recorded(1)
    (row,) = await external_rows(any_ctx)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert [a["worker"] for a in await attempts(any_ctx)] == ["second"]


async def test_two_workers_never_send_a_row_twice(any_ctx: AppContext, sink: SmtpSink) -> None:
    any_ctx.settings = any_ctx.settings.model_copy(update={"delivery_concurrency": 4})
    alice = await agent(any_ctx, "alice")
    sent = [await send(any_ctx, alice, f"r{n}@example.com", f"m{n}") for n in range(40)]
    async with (
        worker(any_ctx, endpoint(sink.port), name="w1") as one,
        worker(any_ctx, endpoint(sink.port), name="w2") as two,
    ):
        got = await sink.wait_for(40)
    # Leaving the block stops both gracefully: every outcome is recorded by then.
    assert one.worker.recorded + two.worker.recorded == 40
    ids = [message_from_bytes(m.data)["Message-ID"] for m in got]
    assert sorted(ids) == sorted(s.message_id for s in sent)  # each exactly once
    found = await external_rows(any_ctx)
    assert {r["status"] for r in found} == {"delivered"}
    assert {r["attempts"] for r in found} == {1}
    assert {a["worker"] for a in await attempts(any_ctx)} <= {"w1", "w2"}


async def test_a_send_wakes_an_idle_worker_at_once(ctx: AppContext, sink: SmtpSink) -> None:
    """With a long poll interval, a send still goes out right away: the commit wakes it."""
    ctx.settings = ctx.settings.model_copy(update={"delivery_poll_seconds": 600})
    alice = await agent(ctx, "alice")
    async with worker(ctx, endpoint(sink.port)) as running:
        await send(ctx, alice, "carol@example.com")
        await sink.wait_for(1, timeout=5)
        await running.worker.wait_recorded(1, timeout=5)


@pytest.mark.postgres
async def test_a_send_in_another_process_wakes_the_worker(
    settings: Settings, sink: SmtpSink
) -> None:
    """Two contexts on one PostgreSQL database stand for two server processes: the API one
    stores the send, the worker one hears of it through LISTEN/NOTIFY, not its poll."""
    database = await create_database()
    shared = settings.model_copy(
        update={"database_url": database_url(database), "delivery_poll_seconds": 600}
    )
    api_side = await build_context(shared)
    worker_side = await build_context(shared, migrate=False)
    try:
        await accounts.ensure_bootstrap(api_side)
        alice = await agent(api_side, "alice")
        async with worker(worker_side, endpoint(sink.port)) as running:
            await send(api_side, alice, "carol@example.com")
            await sink.wait_for(1, timeout=5)
            await running.worker.wait_recorded(1, timeout=5)
    finally:
        await worker_side.close()
        await api_side.close()
        await drop_database(database)


async def test_a_failing_pass_does_not_end_the_worker(
    ctx: AppContext, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resolver (or the database) failing mid-pass: the worker logs, pauses, and the
    claimed rows come back with their leases and go out."""
    monkeypatch.setattr(worker_module, "ERROR_PAUSE_SECONDS", 0.05)
    ctx.settings = ctx.settings.model_copy(update={"delivery_lease_seconds": 0.3})
    calls = 0

    async def flaky(*_args: object) -> SmtpEndpoint:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("configuration store unavailable")
        return endpoint(sink.port)

    alice = await agent(ctx, "alice")
    await send(ctx, alice, "carol@example.com")
    running = start_worker(ctx, resolver=flaky)
    try:
        await sink.wait_for(1)
        await running.worker.wait_recorded(1)
    finally:
        await running.close()
    assert calls >= 2
    (row,) = await external_rows(ctx)
    assert (row["status"], row["attempts"]) == ("delivered", 1)


async def test_untrusted_certificate_defers_instead_of_sending(
    ctx: AppContext, tmp_path: Path
) -> None:
    """A STARTTLS peer with a self-signed certificate: by default nothing is sent and the
    row says why; the owner's explicit verify_tls=False lets it through."""
    tls = load_tls_context(Settings(data_dir=tmp_path / "peer", domain="localhost"))
    peer = await SmtpSink(tls_context=tls).start()
    try:
        alice = await agent(ctx, "alice")
        await send(ctx, alice, "carol@example.com")
        async with worker(ctx, endpoint(peer.port, security=Security.STARTTLS)) as running:
            await running.worker.wait_recorded(1)
        (row,) = await external_rows(ctx)
        assert (row["status"], row["last_code"]) == ("deferred", None)
        assert "certificate" in row["last_error"].lower()
        assert peer.messages == []
        trusted = endpoint(peer.port, security=Security.STARTTLS, verify_tls=False)
        async with worker(ctx, trusted) as running:
            await peer.wait_for(1)
            await running.worker.wait_recorded(1)
    finally:
        await peer.close()
    (row,) = await external_rows(ctx)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
