"""Storage on SQLite and PostgreSQL: migrations, transactions, UID allocation under
concurrency, and the repositories' bookkeeping of blobs, counts and threads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, case, event, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.services import accounts, inbox, mailbox
from agentpost.services.context import AppContext
from agentpost.services.mailbox import SearchCriteria
from agentpost.storage.migrate import _alembic_config, upgrade_to_head
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import messages as repo
from agentpost.storage.search import (
    MAX_TOKENS,
    MAX_WORD_CHARS,
    SearchDocument,
    TextCriteria,
    tokens,
)
from agentpost.storage.tables import folders, message_blobs, messages, metadata

pytestmark = pytest.mark.anyio

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


async def _agent(ctx: AppContext, name: str) -> AgentRecord:
    async with ctx.db.read() as conn:
        owner = await account_repo.default_owner(conn)
    assert owner is not None
    principal = accounts.Principal(accounts.PrincipalKind.admin, owner.id)
    record, _ = await accounts.create_agent(ctx, principal, name=name)
    return record


async def _agent_and_folder(ctx: AppContext) -> tuple[str, int]:
    record = await _agent(ctx, "store")
    async with ctx.db.read() as conn:
        inbox = await folder_repo.folder_by_name(conn, record.id, "INBOX")
    assert inbox is not None
    return record.id, inbox.id


DOC = SearchDocument("Sender a@x.test", "b@x.test", "subject", "body words")


async def _insert(ctx: AppContext, conn: AsyncConnection, new: repo.NewMessage) -> int:
    return await repo.insert_message(conn, ctx.db.dialect, new, DOC)


def _new(agent_id: str, folder_id: int, uid: int, blob_id: int, **kw: object) -> repo.NewMessage:
    values: dict[str, object] = {
        "agent_id": agent_id,
        "folder_id": folder_id,
        "uid": uid,
        "blob_id": blob_id,
        "message_id": f"<m{uid}@x.test>",
        "in_reply_to": None,
        "references": [],
        "thread_id": f"<m{uid}@x.test>",
        "subject": f"s{uid}",
        "from_addr": "a@x.test",
        "from_name": "",
        "to_addrs": [],
        "cc_addrs": [],
        "reply_to": [],
        "date": NOW,
        "received_at": NOW,
        "size": 10,
        "seen": False,
        "attachments": [],
        "preview": "",
        "direction": "in",
    }
    values.update(kw)
    return repo.NewMessage(**values)  # type: ignore[arg-type]


async def test_migrations_create_every_table_and_are_idempotent(any_ctx: AppContext) -> None:
    """The schema matches the table definitions and a second upgrade changes nothing."""
    await upgrade_to_head(any_ctx.db)

    def table_names(sync_conn: object) -> set[str]:
        return set(inspect(sync_conn).get_table_names())

    async with any_ctx.db.read() as conn:
        names = await conn.run_sync(table_names)
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert set(metadata.tables) <= names
    assert len(version) == 1
    if any_ctx.db.is_sqlite:
        assert "messages_fts" in names


async def test_write_commits_on_success_and_rolls_back_on_error(any_ctx: AppContext) -> None:
    """A write block is all or nothing."""
    async with any_ctx.db.write() as conn:
        kept = await repo.insert_blob(conn, b"kept")
    with pytest.raises(RuntimeError):
        async with any_ctx.db.write() as conn:
            await repo.insert_blob(conn, b"lost")
            raise RuntimeError("abort")
    async with any_ctx.db.read() as conn:
        raws = (await conn.execute(select(message_blobs.c.id, message_blobs.c.raw))).all()
    assert [(i, bytes(r)) for i, r in raws] == [(kept, b"kept")]


async def test_concurrent_uid_allocation_never_hands_out_a_uid_twice(
    any_ctx: AppContext,
) -> None:
    """Twenty concurrent transactions each take a distinct UID (lock on SQLite, row lock on
    PostgreSQL), and the counter ends exactly past them."""
    agent_id, folder_id = await _agent_and_folder(any_ctx)

    async def take() -> int:
        async with any_ctx.db.write() as conn:
            uid = await folder_repo.allocate_uid(conn, folder_id)
            await asyncio.sleep(0)  # let the others try while this transaction is open
            return uid

    uids = await asyncio.gather(*(take() for _ in range(20)))
    assert sorted(uids) == list(range(1, 21))
    async with any_ctx.db.read() as conn:
        rows = await folder_repo.list_folders(conn, agent_id)
    assert next(f.uid_next for f in rows if f.id == folder_id) == 21


async def test_orphan_blobs_are_deleted_and_shared_blobs_kept(any_ctx: AppContext) -> None:
    """A blob goes only when no message row uses it any more."""
    agent_id, folder_id = await _agent_and_folder(any_ctx)
    async with any_ctx.db.write() as conn:
        shared = await repo.insert_blob(conn, b"shared")
        single = await repo.insert_blob(conn, b"single")
        first = await _insert(any_ctx, conn, _new(agent_id, folder_id, 1, shared))
        await _insert(any_ctx, conn, _new(agent_id, folder_id, 2, shared))
        third = await _insert(any_ctx, conn, _new(agent_id, folder_id, 3, single))
    async with any_ctx.db.write() as conn:
        await repo.delete_rows(conn, [first, third])
        await repo.delete_orphan_blobs(conn, [shared, single, shared])
    async with any_ctx.db.read() as conn:
        remaining = (await conn.execute(select(message_blobs.c.id))).scalars().all()
        assert await repo.read_blob(conn, shared) == b"shared"
    assert list(remaining) == [shared]


async def _counters(ctx: AppContext, agent_id: str) -> dict[int, tuple[int, int]]:
    """Folder id → (message_count, unseen_count) as the triggers keep them."""
    async with ctx.db.read() as conn:
        found = await folder_repo.list_folders(conn, agent_id)
    return {f.id: (f.message_count, f.unseen_count) for f in found}


async def _recount(ctx: AppContext, agent_id: str) -> dict[int, tuple[int, int]]:
    """What the counters should say, counted the slow way."""
    unseen = func.sum(case((messages.c.seen.is_(False), 1), else_=0))
    async with ctx.db.read() as conn:
        result = await conn.execute(
            select(folders.c.id, func.count(messages.c.id), func.coalesce(unseen, 0))
            .select_from(folders.outerjoin(messages, messages.c.folder_id == folders.c.id))
            .where(folders.c.agent_id == agent_id)
            .group_by(folders.c.id)
        )
        return {int(fid): (int(total), int(count)) for fid, total, count in result}


async def test_folder_counters_follow_every_change(any_ctx: AppContext) -> None:
    """The trigger-kept counters match a recount after inserts, seen changes, moves and
    deletes, whatever code path made them."""
    agent_id, inbox = await _agent_and_folder(any_ctx)
    async with any_ctx.db.read() as conn:
        archive = await folder_repo.folder_by_name(conn, agent_id, "Archive")
    assert archive is not None
    async with any_ctx.db.write() as conn:
        blob = await repo.insert_blob(conn, b"x")
        ids = [
            await _insert(any_ctx, conn, _new(agent_id, inbox, uid, blob, seen=uid == 1))
            for uid in (1, 2, 3, 4)
        ]
    assert (await _counters(any_ctx, agent_id))[inbox] == (4, 3)

    async with any_ctx.db.write() as conn:
        await repo.set_seen(conn, ids, True)  # one already seen: no double count
        await repo.set_seen(conn, ids[:1], False)
        await repo.move(conn, ids[1], archive.id, 1)
        await repo.move(conn, ids[0], archive.id, 2)
        await repo.set_flags(conn, ids[2], ["\\Flagged"])  # not a counted change
    counts = await _counters(any_ctx, agent_id)
    assert counts[inbox] == (2, 0)
    assert counts[archive.id] == (2, 1)
    assert counts == await _recount(any_ctx, agent_id)

    async with any_ctx.db.write() as conn:
        await repo.delete_rows(conn, ids[:3])
    counts = await _counters(any_ctx, agent_id)
    assert (counts[inbox], counts[archive.id]) == ((1, 0), (0, 0))
    assert counts == await _recount(any_ctx, agent_id)


async def test_failed_write_leaves_counters_untouched(any_ctx: AppContext) -> None:
    """Counter updates are part of the transaction: a rollback undoes them too."""
    agent_id, inbox = await _agent_and_folder(any_ctx)
    with pytest.raises(RuntimeError):
        async with any_ctx.db.write() as conn:
            blob = await repo.insert_blob(conn, b"x")
            await _insert(any_ctx, conn, _new(agent_id, inbox, 1, blob))
            raise RuntimeError("abort")
    assert (await _counters(any_ctx, agent_id))[inbox] == (0, 0)


async def test_thread_of_prefers_the_newest_known_parent(any_ctx: AppContext) -> None:
    """Among several known parent ids, the most recently stored message's thread wins;
    unknown ids give None."""
    agent_id, folder_id = await _agent_and_folder(any_ctx)
    async with any_ctx.db.write() as conn:
        blob = await repo.insert_blob(conn, b"x")
        await _insert(any_ctx, conn, _new(agent_id, folder_id, 1, blob, thread_id="T-old"))
        await _insert(any_ctx, conn, _new(agent_id, folder_id, 2, blob, thread_id="T-new"))
    async with any_ctx.db.read() as conn:
        assert await repo.thread_of(conn, agent_id, ["<m1@x.test>", "<m2@x.test>"]) == "T-new"
        assert await repo.thread_of(conn, agent_id, ["<m1@x.test>"]) == "T-old"
        assert await repo.thread_of(conn, agent_id, ["<zz@x.test>"]) is None
        assert await repo.thread_of(conn, agent_id, []) is None
        assert await repo.thread_of(conn, "someone-else", ["<m1@x.test>"]) is None


async def test_delete_rows_handles_more_ids_than_sqlite_binds(any_ctx: AppContext) -> None:
    """Deleting 1,200 rows at once works despite SQLite's bound-parameter limits."""
    agent_id, folder_id = await _agent_and_folder(any_ctx)
    async with any_ctx.db.write() as conn:
        blob = await repo.insert_blob(conn, b"x")
        ids = [
            await _insert(any_ctx, conn, _new(agent_id, folder_id, uid, blob))
            for uid in range(1, 1201)
        ]
    async with any_ctx.db.write() as conn:
        await repo.delete_rows(conn, ids)
    assert (await _counters(any_ctx, agent_id))[folder_id] == (0, 0)
    async with any_ctx.db.read() as conn:
        assert await repo.page(conn, folder_id, limit=5, offset=0) == []
        left = await conn.execute(select(func.count()).select_from(message_blobs))
        assert left.scalar_one() == 1  # delete_rows leaves blobs to delete_orphan_blobs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café Über naïve", ["cafe", "uber", "naive"]),
        ("cafe\u0301 decomposed", ["cafe", "decomposed"]),  # NFD input folds the same way
        ("\ufb01nance \uff26\uff35\uff2c\uff2c", ["finance", "full"]),  # compatibility forms (NFKD)
        ("dave.smith@partner.org", ["dave", "smith", "partner", "org"]),
        ("menu-v2.pdf 3.14 project_alpha", ["menu", "v2", "pdf", "3", "14", "project", "alpha"]),
        ('"x" OR y* NEAR(a) -b :c', ["x", "or", "y", "near", "a", "b", "c"]),
        ("日本語 テキスト", ["日本語", "テキスト"]),
        ("", []),
    ],
)
def test_search_tokens_are_folded_words(text: str, expected: list[str]) -> None:
    """Query text becomes lower-case, diacritic-free letter/digit words on both dialects,
    with every FTS5 or tsquery operator character dropped."""
    assert tokens(text) == expected


def test_search_tokens_are_capped() -> None:
    """A query uses at most MAX_TOKENS words, so a pasted essay cannot build a huge query;
    an over-long word is cut rather than dropped (dropping it would match everything)."""
    assert len(tokens(" ".join(f"w{i}" for i in range(100)))) == MAX_TOKENS
    assert tokens("a" * 3000) == ["a" * MAX_WORD_CHARS]


async def test_downgrade_to_0001_and_upgrade_again_keeps_counts_and_search(
    any_ctx: AppContext,
) -> None:
    """0002 converts an existing 0001 database: counters are backfilled, PostgreSQL's weighted
    vector is split per field, and search answers the same afterwards."""
    bob = await _agent(any_ctx, "bob")
    raw = (
        b"From: Carol <carol@example.com>\r\nTo: bob@localhost\r\nSubject: Quarterly plan\r\n"
        b"Message-ID: <q1@example.com>\r\n\r\nbudget numbers attached\r\n"
    )
    await inbox.accept_message(any_ctx, raw, [bob])
    await inbox.accept_message(any_ctx, raw.replace(b"q1@", b"q2@"), [bob])
    await mailbox.set_seen(any_ctx, bob, [1], seen=True)

    def downgrade(connection: Connection) -> None:
        command.downgrade(_alembic_config(connection), "0001_core")

    async with any_ctx.db.engine.begin() as conn:
        await conn.run_sync(downgrade)
    await upgrade_to_head(any_ctx.db)

    folders_now = {f.name: (f.total, f.unseen) for f in await mailbox.list_folders(any_ctx, bob)}
    assert folders_now["INBOX"] == (2, 1)
    for criteria in (
        TextCriteria(text="budget"),
        TextCriteria(subject="quarter"),
        TextCriteria(from_="carol"),
        TextCriteria(to="bob"),
    ):
        found, total = await mailbox.search_messages(
            any_ctx, bob, SearchCriteria(text=criteria), limit=5, offset=0
        )
        assert (total, sorted(m.uid for m in found)) == (2, [1, 2]), criteria
    assert (
        await mailbox.search_messages(
            any_ctx, bob, SearchCriteria(text=TextCriteria(subject="budget")), limit=5, offset=0
        )
    )[1] == 0


async def _search_plan(ctx: AppContext, who: AgentRecord, criteria: SearchCriteria) -> str:
    """The SQLite query plan of the statement that picks a search's page."""
    seen: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        seen.append((args[2], args[3]))  # statement, parameters

    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await mailbox.search_messages(ctx, who, criteria, limit=50, offset=0)
    finally:
        event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", capture)
    statement, params = next((s, p) for s, p in seen if "OVER ()" in s)
    async with ctx.db.read() as conn:
        rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        return "\n".join(str(row[-1]) for row in rows)


async def test_sqlite_text_search_follows_the_hits_not_the_mailbox(ctx: AppContext) -> None:
    """On SQLite a text search checks each full-text hit in the small covering index, and a
    folder filter still follows the hits: neither walks the agent's whole mailbox."""
    bob = await _agent(ctx, "bob")
    await inbox.accept_message(ctx, b"Subject: budget\r\n\r\nbudget numbers", [bob])
    plain = await _search_plan(ctx, bob, SearchCriteria(text=TextCriteria(text="budget")))
    assert "COVERING INDEX ix_messages_agent_search (agent_id=? AND id=?)" in plain
    assert "messages_fts VIRTUAL TABLE" in plain
    in_folder = await _search_plan(
        ctx, bob, SearchCriteria(text=TextCriteria(from_="carol"), folder="INBOX")
    )
    assert "ix_messages_agent_folder_uid" not in in_folder
    assert "SCAN messages\n" not in in_folder + "\n"
    assert "messages_fts VIRTUAL TABLE" in in_folder
