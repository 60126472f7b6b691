"""The queue as people see it: the agent's delivery report (service and REST route), the
operator's list/retry/requeue, and the real path through a stored SMTP configuration."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from agentpost.api import create_app
from agentpost.delivery.worker import start_worker
from agentpost.errors import InvalidInput, MessageNotFound
from agentpost.services import delivery, queue, smtp_configs
from agentpost.services.accounts import admin_principal, now_utc
from agentpost.services.context import AppContext
from agentpost.services.queue import QueueSelection
from agentpost.storage.repositories import delivery as delivery_repo
from agentpost.storage.tables.audit import audit_log
from agentpost.storage.tables.core import deliveries
from agentpost.testing.factories import make_agent
from agentpost.testing.fake_smtp import FakeRelay, SmtpSink

from .support import agent, endpoint, external_rows, send, worker

pytestmark = pytest.mark.anyio


async def test_report_shows_attempts_next_try_and_deadline(
    ctx: AppContext, relay: FakeRelay
) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"delivery_retry_base_seconds": 3600.0, "delivery_retry_max_seconds": 7200.0}
    )
    alice = await agent(ctx, "alice")
    await agent(ctx, "bob")
    relay.script.add("MAIL", "451 4.3.0 try again later")
    sent = await send(ctx, alice, ["carol@example.com", "bob@localhost"])
    async with worker(ctx, endpoint(relay.port)) as running:
        await running.worker.wait_recorded(1)
    report = await queue.message_delivery(ctx, alice, sent.uid)
    assert report.status == "pending"
    external, local = report.recipients
    assert (external.record.status, external.record.attempts) == ("deferred", 1)
    assert external.record.last_code == 451
    assert external.record.next_attempt_at is not None
    assert external.record.deadline_at is not None
    assert external.record.next_attempt_at < external.record.deadline_at
    assert [(h.attempt, h.outcome, h.code) for h in external.history] == [(1, "deferred", 451)]
    assert (local.record.status, local.history) == ("delivered", [])

    with pytest.raises(MessageNotFound):  # an INBOX message has no deliveries
        await queue.message_delivery(ctx, alice, 1, "INBOX")
    bob = (await make_agent(ctx, "bob2"))[0]
    with pytest.raises(MessageNotFound):  # another agent's UID is not found
        await queue.message_delivery(ctx, bob, sent.uid)


async def test_delivery_route(ctx: AppContext, sink: SmtpSink) -> None:
    alice, key = await make_agent(ctx, "alice")
    other_key = (await make_agent(ctx, "bob"))[1]
    sent = await send(ctx, alice, "carol@example.com", cc="dave@example.com")
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://agentpost.test") as http:
        path = f"/api/v1/mail/messages/{sent.uid}/delivery"
        before = (await http.get(path, headers={"Authorization": f"Bearer {key}"})).json()
        async with worker(ctx, endpoint(sink.port)) as running:
            await running.worker.wait_recorded(1)
        after = (await http.get(path, headers={"Authorization": f"Bearer {key}"})).json()
        read = await http.get(
            f"/api/v1/mail/messages/{sent.uid}",
            params={"folder": "Sent"},
            headers={"Authorization": f"Bearer {key}"},
        )
        foreign = await http.get(path, headers={"Authorization": f"Bearer {other_key}"})
    assert before["status"] == "pending" and before["folder"] == "Sent"
    assert [r["status"] for r in before["recipients"]] == ["queued", "queued"]
    assert after["status"] == "delivered"
    first = after["recipients"][0]
    assert first["recipient"] == "carol@example.com" and first["lastCode"] == 250
    assert first["deliveredAt"].endswith("Z") and first["history"][0]["outcome"] == "delivered"
    deliveries = read.json()["deliveries"]
    assert deliveries[0]["status"] == "delivered" and deliveries[0]["lastCode"] == 250
    assert foreign.status_code == 404 and foreign.json()["code"] == "message_not_found"


async def test_list_retry_and_requeue(ctx: AppContext, relay: FakeRelay, sink: SmtpSink) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"delivery_retry_base_seconds": 3600.0, "delivery_retry_max_seconds": 7200.0}
    )
    admin = await admin_principal(ctx)
    alice = await agent(ctx, "alice")
    bob = await agent(ctx, "bob")
    relay.script.rcpt["gone@example.com"] = "550 5.1.1 gone"
    relay.script.rcpt["later@example.com"] = "452 4.2.2 mailbox full, try later"
    await send(ctx, alice, ["gone@example.com", "later@example.com"])
    await send(ctx, bob, "carol@example.com")
    async with worker(ctx, endpoint(relay.port)) as running:
        await running.worker.wait_recorded(2)

    listed = await queue.list_queue(ctx, admin, QueueSelection(agent="alice"))
    assert {(r.delivery.recipient, r.delivery.status) for r in listed} == {
        ("gone@example.com", "failed"),
        ("later@example.com", "deferred"),
    }
    failed = await queue.list_queue(ctx, admin, QueueSelection(statuses=("failed",)))
    assert [r.delivery.recipient for r in failed] == ["gone@example.com"]
    with pytest.raises(InvalidInput):
        await queue.list_queue(ctx, admin, QueueSelection(statuses=("lost",)))
    with pytest.raises(InvalidInput):  # neither ids nor --all
        await queue.retry_now(ctx, admin, QueueSelection(agent="alice"))

    # Retry makes the deferred row due now; requeue brings the failed one back.
    assert await queue.retry_now(ctx, admin, QueueSelection(agent="alice", everything=True)) == 1
    assert await queue.requeue(ctx, admin, QueueSelection(ids=(failed[0].delivery.id,))) == 1
    rows = {r["recipient"]: r for r in await external_rows(ctx)}
    assert rows["gone@example.com"]["status"] == "queued"
    assert rows["gone@example.com"]["deadline_at"] is None
    async with worker(ctx, endpoint(sink.port)) as running:
        await sink.wait_for(1)
        await running.worker.wait_recorded(1)
    rows = {r["recipient"]: r for r in await external_rows(ctx)}
    assert rows["gone@example.com"]["status"] == "delivered"
    assert rows["later@example.com"]["status"] == "delivered"
    assert rows["gone@example.com"]["attempts"] == 2  # history kept across the requeue


async def test_delivers_through_a_stored_configuration(any_ctx: AppContext, sink: SmtpSink) -> None:
    """No test resolver: the owner's default configuration, its sealed password and all."""
    admin = await admin_principal(any_ctx)
    config = await smtp_configs.create_config(
        any_ctx,
        admin,
        {
            "connection_name": "loopback",
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "none",
            "from_email": "owner@example.com",
            "is_default": True,
        },
    )
    alice = await agent(any_ctx, "alice")
    await send(any_ctx, alice, "carol@example.com", "Via config")
    running = start_worker(any_ctx)
    try:
        (got,) = await sink.wait_for(1)
        await running.worker.wait_recorded(1)
    finally:
        await running.close()
    assert got.sender == "owner@example.com" and got.recipients == ["carol@example.com"]
    (row,) = await external_rows(any_ctx)
    assert row["status"] == "delivered"
    report = await queue.message_delivery(any_ctx, alice, 1)
    assert report.status == "delivered"
    assert config.id  # the audit row names the configuration it went through
    async with any_ctx.db.read() as conn:
        result = await conn.execute(
            select(audit_log.c.config_id).where(audit_log.c.operation == "send.delivered")
        )
        assert result.scalars().all() == [config.id]


async def test_claims_take_due_rows_of_every_kind_oldest_first_and_each_once(
    any_ctx: AppContext,
) -> None:
    """Queued, deferred and lease-expired rows are claimed together in due order, rows not
    yet due or leased by a live worker are left, and draining hands out every row once."""
    alice = await agent(any_ctx, "alice")
    for n in range(7):
        await send(any_ctx, alice, [f"r{n}@example.com"])
    rows = sorted(r["id"] for r in await external_rows(any_ctx))
    base = now_utc() - timedelta(minutes=10)
    plan = [  # (status, next_attempt_at, lease_until) per row, oldest message first
        ("queued", base + timedelta(minutes=5), None),
        ("deferred", base + timedelta(minutes=1), None),
        ("sending", base + timedelta(minutes=3), base),  # its worker died: lease expired
        ("queued", base + timedelta(minutes=2), None),
        ("deferred", now_utc() + timedelta(hours=1), None),  # not due yet
        ("sending", base, now_utc() + timedelta(minutes=5)),  # leased by a live worker
        ("queued", base + timedelta(minutes=4), None),
    ]
    async with any_ctx.db.write() as conn:
        for row, (status, due, lease) in zip(rows, plan, strict=True):
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row)
                .values(status=status, next_attempt_at=due, lease_until=lease)
            )
    expected = [rows[i] for i in (1, 3, 2, 6, 0)]  # by next_attempt_at

    first = await delivery.claim(any_ctx, "w1", 3)
    rest = await delivery.claim(any_ctx, "w2", 3)
    assert [r.id for r in first] == expected[:3]
    assert [r.id for r in rest] == expected[3:]
    assert await delivery.claim(any_ctx, "w3", 3) == []


@pytest.mark.parametrize(
    ("status", "due_in", "lease_in", "due"),
    [
        ("queued", -60, None, True),
        ("deferred", -60, None, True),
        ("deferred", 3600, None, False),  # its retry time has not come
        ("sending", -60, -1, True),  # its worker died: the lease ran out
        ("sending", -60, 300, False),  # a live worker holds it
        ("delivered", -60, None, False),
        ("failed", -60, None, False),
    ],
)
async def test_the_look_before_a_claim_sees_exactly_what_a_claim_would_take(
    any_ctx: AppContext, status: str, due_in: int, lease_in: int | None, due: bool
) -> None:
    """On SQLite a claim first looks without taking the write lock (``any_due``); it must
    never miss a row the claim itself would take."""
    alice = await agent(any_ctx, "alice")
    await send(any_ctx, alice, ["r@example.com"])
    now = now_utc()
    lease = None if lease_in is None else now + timedelta(seconds=lease_in)
    async with any_ctx.db.write() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.kind == "external")
            .values(
                status=status, next_attempt_at=now + timedelta(seconds=due_in), lease_until=lease
            )
        )
    async with any_ctx.db.read() as conn:
        assert await delivery_repo.any_due(conn, now_utc()) is due
    assert len(await delivery.claim(any_ctx, "w1", 5)) == int(due)
