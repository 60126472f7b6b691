"""Tags and delivery rules on SQLite and PostgreSQL: per-agent isolation, validation at
creation, and rules applied when another agent's mail is delivered."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from agentpost.errors import (
    FolderNotFound,
    InvalidInput,
    MessageNotFound,
    RuleExists,
    RuleNotFound,
    TagExists,
    TagNotFound,
)
from agentpost.services import mailbox, rules, tags
from agentpost.services.context import AppContext
from agentpost.services.mailbox import SearchCriteria
from agentpost.storage.search import TextCriteria
from agentpost.storage.tables import folders

from .support import agent, send

pytestmark = pytest.mark.anyio


async def inbox_subjects(ctx: AppContext, who: object, folder: str = "INBOX") -> list[str]:
    page = await mailbox.list_folder(ctx, who, folder, limit=100, offset=0)  # type: ignore[arg-type]
    return [m.subject for m in page.messages]


async def test_tags_are_per_agent_and_follow_a_moved_message(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await send(any_ctx, alice, bob.address, "Contract")
    urgent = await tags.create_tag(any_ctx, bob, "Urgent", "#FF0000")
    assert urgent.color == "#ff0000"
    with pytest.raises(TagExists):
        await tags.create_tag(any_ctx, bob, "urgent")
    with pytest.raises(InvalidInput):
        await tags.create_tag(any_ctx, bob, "x", "red")
    await tags.create_tag(any_ctx, alice, "Urgent")  # same name, another agent: fine

    await tags.tag_message(any_ctx, bob, urgent.id, 1)
    await tags.tag_message(any_ctx, bob, urgent.id, 1)  # idempotent
    page = await tags.tagged_messages(any_ctx, bob, urgent.id)
    assert [(m.uid, m.folder, m.subject) for m in page.messages] == [(1, "INBOX", "Contract")]
    assert page.total == 1

    moved = await mailbox.move_messages(any_ctx, bob, [1], source="INBOX", target="Archive")
    assert [t.name for t in await tags.message_tags(any_ctx, bob, moved[1], "Archive")] == [
        "Urgent"
    ]

    # Alice cannot see, use or delete Bob's tag, and cannot tag his messages with hers.
    for call in (
        tags.tag_message(any_ctx, alice, urgent.id, 1, "Sent"),
        tags.tagged_messages(any_ctx, alice, urgent.id),
        tags.delete_tag(any_ctx, alice, urgent.id),
    ):
        with pytest.raises(TagNotFound):
            await call
    with pytest.raises(MessageNotFound):
        await tags.tag_message(any_ctx, bob, urgent.id, 99, "Archive")

    assert await tags.untag_message(any_ctx, bob, urgent.id, moved[1], "Archive") is True
    assert await tags.untag_message(any_ctx, bob, urgent.id, moved[1], "Archive") is False
    await tags.delete_tag(any_ctx, bob, urgent.id)
    assert await tags.list_tags(any_ctx, bob) == []


async def test_rule_validation_happens_at_creation(any_ctx: AppContext) -> None:
    bob = await agent(any_ctx, "bob")
    with pytest.raises(InvalidInput) as bad_regex:
        await rules.create_rule(
            any_ctx, bob, name="r", conditions={"subject_regex": "(a+)+"}, actions={"delete": True}
        )
    assert bad_regex.value.field == "conditions.subject_regex"
    with pytest.raises(FolderNotFound):
        await rules.create_rule(any_ctx, bob, name="r", conditions={}, actions={"move_to": "Nope"})
    with pytest.raises(InvalidInput):
        await rules.create_rule(any_ctx, bob, name=" ", conditions={}, actions={"delete": True})
    await rules.create_rule(any_ctx, bob, name="Spam-ish", conditions={}, actions={"delete": True})
    with pytest.raises(RuleExists):
        await rules.create_rule(
            any_ctx, bob, name="spam-ISH", conditions={}, actions={"delete": True}
        )
    assert [r.name for r in await rules.list_rules(any_ctx, bob)] == ["Spam-ish"]


async def test_rules_apply_at_delivery_in_priority_order(any_ctx: AppContext) -> None:
    """No client is listening: the rules run as the mail is stored."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await mailbox.create_folder(any_ctx, bob, "Reports")
    await rules.create_rule(
        any_ctx,
        bob,
        name="reports",
        priority=1,
        conditions={"subject_regex": r"^report \d+$"},
        actions={"move_to": "reports", "mark_read": True, "add_tags": ["Weekly"]},
    )
    await rules.create_rule(
        any_ctx,
        bob,
        name="everything from alice",
        priority=5,
        conditions={"from_contains": "alice@", "subject_contains": "junk"},
        actions={"delete": True},
    )
    await send(any_ctx, alice, bob.address, "Report 7")
    await send(any_ctx, alice, bob.address, "Report 8 junk")  # both could match: 5 wins
    await send(any_ctx, alice, bob.address, "Lunch?")

    assert await inbox_subjects(any_ctx, bob) == ["Lunch?"]
    assert await inbox_subjects(any_ctx, bob, "Trash") == ["Report 8 junk"]
    [report] = (await mailbox.list_folder(any_ctx, bob, "Reports", limit=10, offset=0)).messages
    assert report.subject == "Report 7" and report.seen is True
    assert [t.name for t in await tags.message_tags(any_ctx, bob, report.uid, "Reports")] == [
        "Weekly"
    ]
    # The sender's own copy is untouched by the recipient's rules.
    assert len(await inbox_subjects(any_ctx, alice, "Sent")) == 3


async def test_a_rule_change_takes_effect_at_once(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await send(any_ctx, alice, bob.address, "before")  # caches "no rules" for bob
    rule = await rules.create_rule(
        any_ctx, bob, name="read", conditions={}, actions={"mark_read": True}
    )
    await send(any_ctx, alice, bob.address, "during")
    await rules.delete_rule(any_ctx, bob, rule.id)
    with pytest.raises(RuleNotFound):
        await rules.delete_rule(any_ctx, bob, rule.id)
    await send(any_ctx, alice, bob.address, "after")
    unread, _ = await mailbox.search_messages(
        any_ctx, bob, SearchCriteria(TextCriteria(), seen=False), limit=10, offset=0
    )
    assert sorted(m.subject for m in unread) == ["after", "before"]


async def test_rules_of_one_agent_never_touch_another(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    carol = await agent(any_ctx, "carol")
    await rules.create_rule(any_ctx, bob, name="all", conditions={}, actions={"delete": True})
    with pytest.raises(RuleNotFound):
        await rules.delete_rule(any_ctx, carol, (await rules.list_rules(any_ctx, bob))[0].id)
    assert await rules.list_rules(any_ctx, carol) == []
    await send(any_ctx, alice, [bob.address, carol.address], "Hi both")
    assert await inbox_subjects(any_ctx, bob) == []
    assert await inbox_subjects(any_ctx, carol) == ["Hi both"]


async def test_a_deleted_target_folder_falls_back_to_inbox(any_ctx: AppContext) -> None:
    """A stale rule never loses mail: its folder is gone, so the message stays in INBOX."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await mailbox.create_folder(any_ctx, bob, "Temp")
    await rules.create_rule(any_ctx, bob, name="t", conditions={}, actions={"move_to": "Temp"})
    async with any_ctx.db.write() as conn:
        await conn.execute(delete(folders).where(folders.c.name == "Temp"))
    await send(any_ctx, alice, bob.address, "Still here")
    assert await inbox_subjects(any_ctx, bob) == ["Still here"]
