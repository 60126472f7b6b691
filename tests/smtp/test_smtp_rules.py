"""Delivery rules on inbound SMTP over a real socket: applied as the message is stored, per
recipient, with nobody listening, including through the group-commit path of a busy listener."""

from __future__ import annotations

import asyncio

import pytest

from agentpost.services import mailbox, rules, tags
from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer

from .support import Agent, folder, message, send

pytestmark = pytest.mark.anyio

ATTACHED = (
    b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="inv.pdf"\r\n\r\n%PDF-1.4\r\n--b--\r\n'
)


async def test_inbound_mail_is_filed_by_the_recipients_rules(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent
) -> None:
    await mailbox.create_folder(ctx, alice.record, "Invoices")
    await rules.create_rule(
        ctx,
        alice.record,
        name="invoices",
        conditions={"from_contains": "@vendor.example", "has_attachment": True},
        actions={"move_to": "Invoices", "add_tags": ["bills"]},
    )
    await rules.create_rule(
        ctx,
        alice.record,
        name="promo",
        priority=10,
        conditions={"subject_regex": r"^\[promo\]"},
        actions={"delete": True},
    )
    invoice = message(
        sender="billing@vendor.example",
        to="alice@localhost, bob@localhost",
        subject="Invoice 12",
        headers=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"'],
        body=ATTACHED,
    )
    replies = await send(
        server.port, "billing@vendor.example", [alice.address, bob.address], invoice
    )
    assert [code for code, _ in replies] == [250, 250, 250, 250]
    promo = message(sender="shop@vendor.example", subject="[PROMO] 50% off")
    assert (await send(server.port, "shop@vendor.example", [alice.address], promo))[-1][0] == 250
    plain = message(sender="billing@vendor.example", subject="No attachment here")
    assert (await send(server.port, "billing@vendor.example", [alice.address], plain))[-1][0] == 250

    [filed] = await folder(ctx, alice, "Invoices")
    assert filed.subject == "Invoice 12"
    assert [t.name for t in await tags.message_tags(ctx, alice.record, filed.uid, "Invoices")] == [
        "bills"
    ]
    assert [m.subject for m in await folder(ctx, alice, "Trash")] == ["[PROMO] 50% off"]
    assert [m.subject for m in await folder(ctx, alice)] == ["No attachment here"]
    # Bob has no rules: his copy of the same message is in his INBOX.
    assert [m.subject for m in await folder(ctx, bob)] == ["Invoice 12"]


async def test_rules_hold_under_concurrent_deliveries(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """Deliveries that share one group commit are each filed by the rules."""
    await rules.create_rule(
        ctx,
        alice.record,
        name="odd",
        conditions={"subject_regex": r"[13579]$"},
        actions={"mark_read": True},
    )
    subjects = [f"msg {n}" for n in range(10)]
    results = await asyncio.gather(
        *(send(server.port, "x@example.com", [alice.address], message(subject=s)) for s in subjects)
    )
    assert all(r[-1][0] == 250 for r in results)
    stored = {m.subject: m.seen for m in await folder(ctx, alice)}
    assert stored == {s: int(s[-1]) % 2 == 1 for s in subjects}
