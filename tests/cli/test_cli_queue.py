"""``agentpost queue list|retry|requeue|cancel`` against a data dir with queued, deferred and
failed mail (made through the services and a scripted relay before the commands run)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentpost.config import Settings
from agentpost.delivery.worker import start_worker
from agentpost.domain.transport import Security, SmtpEndpoint
from agentpost.services import accounts
from agentpost.services.context import build_context
from agentpost.services.delivery import Resolver
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.testing.factories import make_agent
from agentpost.testing.fake_smtp import FakeRelay

from .support import Invoke


def _resolver(port: int) -> Resolver:
    async def resolve(*_args: object) -> SmtpEndpoint:
        return SmtpEndpoint("127.0.0.1", port, Security.NONE, timeout=5.0)

    return resolve


def fill_queue(data_dir: Path) -> None:
    """alice: one failed (550) and one deferred (451) recipient; bob: one queued."""

    async def fill() -> None:
        settings = Settings(data_dir=data_dir, delivery_retry_base_seconds=3600)
        ctx = await build_context(settings)
        relay = await FakeRelay().start()
        relay.script.rcpt.update(
            {"gone@example.com": "550 5.1.1 gone", "slow@example.com": "451 4.3.0 later"}
        )
        try:
            await accounts.ensure_bootstrap(ctx)
            alice = (await make_agent(ctx, "alice"))[0]
            bob = (await make_agent(ctx, "bob"))[0]
            await submit_message(
                ctx, alice, SendRequest(to=["gone@example.com", "slow@example.com"], subject="x")
            )
            running = start_worker(ctx, resolver=_resolver(relay.port))
            await running.worker.wait_recorded(1)
            await running.close()
            await submit_message(ctx, bob, SendRequest(to="carol@example.com", subject="y"))
        finally:
            await relay.close()
            await ctx.close()

    asyncio.run(fill())


def test_list_filters_and_json(agentpost: Invoke, data_dir: Path) -> None:
    fill_queue(data_dir)
    everything = agentpost("queue", "list", "--json").json()["deliveries"]
    assert {(d["agent"], d["recipient"], d["status"]) for d in everything} == {
        ("alice", "gone@example.com", "failed"),
        ("alice", "slow@example.com", "deferred"),
        ("bob", "carol@example.com", "queued"),
    }
    gone = next(d for d in everything if d["recipient"] == "gone@example.com")
    assert gone["lastCode"] == 550 and "gone" in gone["lastError"] and gone["attempts"] == 1
    failed = agentpost("queue", "list", "--status", "failed", "--json").json()["deliveries"]
    assert [d["recipient"] for d in failed] == ["gone@example.com"]
    bobs = agentpost("queue", "list", "--agent", "bob", "--limit", "5", "--json").json()
    assert [d["recipient"] for d in bobs["deliveries"]] == ["carol@example.com"]
    table = agentpost("queue", "list", env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "slow@example.com" in table.stdout
    bad = agentpost("queue", "list", "--status", "lost")
    assert bad.exit_code != 0 and "unknown status lost" in bad.stderr


def test_retry_and_requeue(agentpost: Invoke, data_dir: Path) -> None:
    fill_queue(data_dir)
    rows = agentpost("queue", "list", "--json").json()["deliveries"]
    ids = {d["recipient"]: d["id"] for d in rows}
    slow = next(d for d in rows if d["recipient"] == "slow@example.com")

    assert agentpost("queue", "retry", "--agent", "alice", "--all", "--json").json() == {
        "retried": 1
    }
    after = agentpost("queue", "list", "--agent", "alice", "--status", "deferred", "--json")
    (row,) = after.json()["deliveries"]
    assert row["nextAttemptAt"] < slow["nextAttemptAt"]  # due now instead of in an hour

    requeued = agentpost("queue", "requeue", str(ids["gone@example.com"]))
    assert requeued.exit_code == 0 and "1 failed delivery" in requeued.stdout
    again = agentpost("queue", "list", "--status", "queued", "--json").json()["deliveries"]
    assert {d["recipient"] for d in again} == {"gone@example.com", "carol@example.com"}
    # Requeueing a row that is not failed changes nothing.
    nothing = agentpost("queue", "requeue", str(ids["carol@example.com"]), "--json").json()
    assert nothing == {"requeued": 0}
    refused = agentpost("queue", "retry")
    assert refused.exit_code != 0 and "name the delivery ids" in refused.stderr


def test_cancel_fails_waiting_rows_and_unblocks_deleting_the_agent(
    agentpost: Invoke, data_dir: Path
) -> None:
    """An agent with mail still in the queue cannot be deleted (its rows would vanish);
    ``queue cancel`` stops that mail explicitly, leaves failed rows alone, and then the
    deletion goes through."""
    fill_queue(data_dir)
    refused = agentpost("agent", "delete", "bob", "--yes")
    assert refused.exit_code != 0 and "queue cancel --agent bob --all" in refused.stderr
    cancelled = agentpost("queue", "cancel", "--agent", "bob", "--all", "--json").json()
    assert cancelled == {"cancelled": 1}
    (row,) = agentpost("queue", "list", "--agent", "bob", "--json").json()["deliveries"]
    assert row["status"] == "failed" and "cancelled by the owner" in row["lastError"]
    # Only queued and deferred rows are cancelled: alice's failed row stays as it was.
    assert agentpost("queue", "cancel", "--agent", "alice", "--all").exit_code == 0
    alices = agentpost("queue", "list", "--agent", "alice", "--json").json()["deliveries"]
    assert {(d["recipient"], d["status"]) for d in alices} == {
        ("gone@example.com", "failed"),
        ("slow@example.com", "failed"),
    }
    gone = next(d for d in alices if d["recipient"] == "gone@example.com")
    assert "gone" in gone["lastError"]
    assert agentpost("agent", "delete", "bob", "--yes").exit_code == 0
