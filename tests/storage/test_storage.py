"""Storage on SQLite and PostgreSQL: migrations, transactions, UID allocation under
concurrency, and the repositories' bookkeeping of blobs, counts and threads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import case, func, inspect, select, text

from agentpost.services import accounts
from agentpost.services.context import AppContext
from agentpost.storage.migrate import upgrade_to_head
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import messages as repo
from agentpost.storage.search import MAX_TOKENS, tokens
from agentpost.storage.tables import folders, message_blobs, messages, metadata

pytestmark = pytest.mark.anyio

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


async def _agent_and_folder(ctx: AppContext) -> tuple[str, int]:
    async with ctx.db.read() as conn:
        owner = await account_repo.default_owner(conn)
    assert owner is not None
    principal = accounts.Principal(accounts.PrincipalKind.admin, owner.id)
    record, _ = await accounts.create_agent(ctx, principal, name="store")
    async with ctx.db.read() as conn:
        inbox = await folder_repo.folder_by_name(conn, record.id, "INBOX")
    assert inbox is not None
    return record.id, inbox.id


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
        first = await repo.insert_message(conn, _new(agent_id, folder_id, 1, shared))
        await repo.insert_message(conn, _new(agent_id, folder_id, 2, shared))
        third = await repo.insert_message(conn, _new(agent_id, folder_id, 3, single))
    async with any_ctx.db.write() as conn:
        await repo.delete_rows(conn, [first, third])
        await repo.delete_orphan_blobs(conn, [shared, single, shared])
    async with any_ctx.db.read() as conn:
        remaining = (await conn.execute(select(message_blobs.c.id))).scalars().all()
        assert await repo.read_blob(conn, shared) == b"shared"
    assert list(remaining) == [shared]


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
            await repo.insert_message(conn, _new(agent_id, inbox, uid, blob, seen=uid == 1))
            for uid in (1, 2, 3, 4)
        ]
    async with any_ctx.db.read() as conn:
        assert (await folder_repo.folder_counts(conn, agent_id))[inbox] == (4, 3)
        assert await repo.count(conn, inbox) == 4
        assert await repo.count(conn, inbox, unseen_only=True) == 3
        folder = await folder_repo.folder_by_name(conn, agent_id, "INBOX")
        assert folder is not None and (folder.message_count, folder.unseen_count) == (4, 3)

    async with any_ctx.db.write() as conn:
        await repo.set_seen(conn, ids, True)  # one already seen: no double count
        await repo.set_seen(conn, ids[:1], False)
        await repo.move(conn, ids[1], archive.id, 1)
        await repo.move(conn, ids[0], archive.id, 2)
        await repo.set_flags(conn, ids[2], ["\\Flagged"])  # not a counted change
    async with any_ctx.db.read() as conn:
        counts = await folder_repo.folder_counts(conn, agent_id)
    assert counts[inbox] == (2, 0)
    assert counts[archive.id] == (2, 1)
    assert counts == await _recount(any_ctx, agent_id)

    async with any_ctx.db.write() as conn:
        await repo.delete_rows(conn, ids[:3])
    async with any_ctx.db.read() as conn:
        counts = await folder_repo.folder_counts(conn, agent_id)
    assert (counts[inbox], counts[archive.id]) == ((1, 0), (0, 0))
    assert counts == await _recount(any_ctx, agent_id)


async def test_failed_write_leaves_counters_untouched(any_ctx: AppContext) -> None:
    """Counter updates are part of the transaction: a rollback undoes them too."""
    agent_id, inbox = await _agent_and_folder(any_ctx)
    with pytest.raises(RuntimeError):
        async with any_ctx.db.write() as conn:
            blob = await repo.insert_blob(conn, b"x")
            await repo.insert_message(conn, _new(agent_id, inbox, 1, blob))
            raise RuntimeError("abort")
    async with any_ctx.db.read() as conn:
        assert (await folder_repo.folder_counts(conn, agent_id))[inbox] == (0, 0)


async def test_thread_of_prefers_the_newest_known_parent(any_ctx: AppContext) -> None:
    """Among several known parent ids, the most recently stored message's thread wins;
    unknown ids give None."""
    agent_id, folder_id = await _agent_and_folder(any_ctx)
    async with any_ctx.db.write() as conn:
        blob = await repo.insert_blob(conn, b"x")
        await repo.insert_message(conn, _new(agent_id, folder_id, 1, blob, thread_id="T-old"))
        await repo.insert_message(conn, _new(agent_id, folder_id, 2, blob, thread_id="T-new"))
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
            await repo.insert_message(conn, _new(agent_id, folder_id, uid, blob))
            for uid in range(1, 1201)
        ]
    async with any_ctx.db.write() as conn:
        await repo.delete_rows(conn, ids)
    async with any_ctx.db.read() as conn:
        assert await repo.count(conn, folder_id) == 0
        left = await conn.execute(select(func.count()).select_from(message_blobs))
        assert left.scalar_one() == 1  # delete_rows leaves blobs to delete_orphan_blobs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café Über naïve", ["cafe", "uber", "naive"]),
        ("cafe\u0301 decomposed", ["cafe", "decomposed"]),  # NFD input folds the same way
        ("ﬁnance ＦＵＬＬ", ["finance", "full"]),  # compatibility forms (NFKD)
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
    """A query uses at most MAX_TOKENS words, so a pasted essay cannot build a huge query."""
    assert len(tokens(" ".join(f"w{i}" for i in range(100)))) == MAX_TOKENS
