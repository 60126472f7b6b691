"""The migrations are frozen, and still build exactly the schema of storage/tables.

To the next engineer: the revisions in storage/migrations/versions spell out their DDL and
import nothing from agentpost, so a revision means the same schema forever. A change to
storage/tables therefore needs a new revision file that makes the same change;
test_head_matches_the_table_definitions fails, naming each difference, until it exists.

What the table definitions cannot describe is checked on its own: SQLite's FTS5 table
``messages_fts`` (left out of the comparison by name), the indexes only one dialect has, the
folder-counter triggers of 0002, and the planner statistics it writes.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, inspect, text

from agentpost.services.context import AppContext
from agentpost.storage.engine import Database
from agentpost.storage.migrate import MIGRATIONS, _alembic_config, upgrade_to_head
from agentpost.storage.tables import metadata
from agentpost.testing import templates
from agentpost.testing.postgres import create_database, database_url, drop_database

pytestmark = pytest.mark.anyio

T = TypeVar("T")
VERSIONS = MIGRATIONS / "versions"
CHAIN = ["0001_core", "0002_folder_counters", "0003_insert_order"]
SEARCH_COLUMNS = ("search_from", "search_to", "search_subject", "search_text")
# Indexes the migrations make for one dialect's search plans; storage/search.py relies on them.
SQLITE_ONLY_INDEXES = {"ix_messages_agent_search"}
POSTGRES_ONLY_INDEXES = {f"ix_messages_{name}" for name in SEARCH_COLUMNS}
SQLITE_TRIGGERS = {"messages_count_insert", "messages_count_delete", "messages_count_update"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables at all, on SQLite and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'agentpost.db'}")
        try:
            yield db
        finally:
            await db.dispose()
        return
    name = await create_database()
    db = Database(database_url(name))
    try:
        yield db
    finally:
        await db.dispose()
        await drop_database(name)


async def _inspect(db: Database, look: Callable[[Connection], T]) -> T:
    async with db.engine.connect() as conn:
        return await conn.run_sync(look)


async def _downgrade_to_base(db: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(_alembic_config(connection), "base")

    async with db.engine.begin() as conn:
        await conn.run_sync(downgrade)


def _only_table_objects(name: str | None, type_: str, _parents: dict[str, str | None]) -> bool:
    """Leave out what the table definitions cannot describe; it is checked separately."""
    if type_ == "table":
        return not (name or "").startswith("messages_fts")  # the FTS5 table and its shadows
    if type_ == "index":
        return name not in SQLITE_ONLY_INDEXES | POSTGRES_ONLY_INDEXES
    return True


def _differences(target: MetaData) -> Callable[[Connection], list[Any]]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": _only_table_objects,
            },
        )
        return list(compare_metadata(context, target))

    return compare


ForeignKey = tuple[str, tuple[str, ...], str, tuple[str, ...], str]


def _foreign_keys_of_database(connection: Connection) -> set[ForeignKey]:
    """(table, columns, referred table, referred columns, ON DELETE) of every foreign key."""
    inspector = inspect(connection)
    found: set[ForeignKey] = set()
    for table in metadata.tables:
        for fk in inspector.get_foreign_keys(table):
            columns = tuple(fk["constrained_columns"])
            referred = tuple(fk["referred_columns"])
            on_delete = (fk["options"].get("ondelete") or "").upper()
            found.add((table, columns, fk["referred_table"], referred, on_delete))
    return found


def _foreign_keys_of_metadata() -> set[ForeignKey]:
    found: set[ForeignKey] = set()
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            referred = tuple(element.column.name for element in fk.elements)
            on_delete = (fk.ondelete or "").upper()
            found.add(
                (table.name, tuple(fk.column_keys), fk.referred_table.name, referred, on_delete)
            )
    return found


def _sequence_columns(connection: Connection) -> set[tuple[str, str]]:
    """PostgreSQL columns fed by a sequence (SERIAL), which the comparison does not check."""
    inspector = inspect(connection)
    return {
        (table, column["name"])
        for table in metadata.tables
        for column in inspector.get_columns(table)
        if column.get("autoincrement") is True
    }


async def test_head_matches_the_table_definitions(empty_db: Database) -> None:
    """Migrating an empty database as the server does gives exactly the tables of
    storage/tables: columns, types, server defaults, keys, unique constraints, indexes."""
    await upgrade_to_head(empty_db)

    assert await _inspect(empty_db, _differences(metadata)) == []
    foreign_keys = await _inspect(empty_db, _foreign_keys_of_database)
    assert foreign_keys == _foreign_keys_of_metadata()
    assert ("messages", ("folder_id",), "folders", ("id",), "CASCADE") in foreign_keys
    if not empty_db.is_sqlite:
        serial = {
            (table.name, table.autoincrement_column.name)
            for table in metadata.tables.values()
            if table.autoincrement_column is not None
        }
        assert await _inspect(empty_db, _sequence_columns) == serial
        assert ("audit_log", "seq") not in serial  # the appender numbers the chain itself


async def test_the_comparison_notices_a_table_change_without_a_revision(tmp_path: Path) -> None:
    """The check above is live: a column added to the definitions alone is reported."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'agentpost.db'}")
    try:
        await upgrade_to_head(db)
        changed = MetaData()
        for table in metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["agents"].append_column(Column("nickname", String(32), nullable=True))

        differences = await _inspect(db, _differences(changed))
    finally:
        await db.dispose()
    assert [(d[0], d[2], d[3].name) for d in differences] == [("add_column", "agents", "nickname")]


def _sqlite_extras(connection: Connection) -> dict[str, Any]:
    def names(kind: str) -> set[str]:
        rows = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = :k"), {"k": kind}
        )
        return {row[0] for row in rows}

    fts = connection.execute(
        text("SELECT sql FROM sqlite_master WHERE name = 'messages_fts'")
    ).scalar_one()
    stats = connection.execute(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'messages'"))
    return {
        "fts": fts,
        "triggers": names("trigger"),
        "indexes": names("index"),
        "stats": {row[0] for row in stats},
    }


def _postgres_extras(connection: Connection) -> dict[str, Any]:
    indexes = connection.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages'")
    )
    triggers = connection.execute(
        text(
            "SELECT tgname FROM pg_trigger "
            "WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal"
        )
    )
    return {"indexes": {name: sql for name, sql in indexes}, "triggers": set(triggers.scalars())}


async def test_dialect_search_and_counter_objects_exist(empty_db: Database) -> None:
    """What the comparison leaves out is there: full-text search (FTS5 on SQLite, a GIN index
    per tsvector column on PostgreSQL), the search plan index and the counter triggers."""
    await upgrade_to_head(empty_db)

    if empty_db.is_sqlite:
        extras = await _inspect(empty_db, _sqlite_extras)
        assert "USING fts5(from_text, to_text, subject, body" in extras["fts"]
        assert extras["triggers"] == SQLITE_TRIGGERS
        assert extras["indexes"] >= SQLITE_ONLY_INDEXES
        assert {"ix_messages_agent_search", "ix_messages_blob"} <= extras["stats"]
        return
    extras = await _inspect(empty_db, _postgres_extras)
    for name in SEARCH_COLUMNS:
        assert f"USING gin ({name})" in extras["indexes"][f"ix_messages_{name}"]
    assert "ix_messages_search" not in extras["indexes"]  # 0001's vector, split by 0002
    assert extras["triggers"] == {"messages_count_folders"}


def _tables_and_triggers(connection: Connection) -> tuple[set[str], int]:
    tables = set(inspect(connection).get_table_names())
    if connection.dialect.name == "sqlite":
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT count(*) FROM pg_proc WHERE proname = 'messages_count_folders'"
    return tables, connection.execute(text(query)).scalar_one()


async def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds_it(
    empty_db: Database,
) -> None:
    """Every revision's downgrade runs, in turn, back to an empty schema; then head again."""
    await upgrade_to_head(empty_db)
    await _downgrade_to_base(empty_db)

    assert await _inspect(empty_db, _tables_and_triggers) == ({"alembic_version"}, 0)
    await upgrade_to_head(empty_db)
    assert await _inspect(empty_db, _differences(metadata)) == []


def test_revisions_keep_their_ids_and_chain() -> None:
    """Databases already migrated record these ids; renaming one would strand them."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    assert scripts.get_heads() == [CHAIN[-1]]
    newest_first = [script.revision for script in scripts.walk_revisions()]
    assert newest_first == CHAIN[::-1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_revisions_import_nothing_from_agentpost() -> None:
    """Frozen means frozen: a revision that read storage/tables (or any other live code) would
    change meaning whenever that code changed. Copy the values in as literals instead."""
    revisions = sorted(VERSIONS.glob("*.py"))
    assert {path.stem for path in revisions} >= set(CHAIN)
    leaks = {
        path.name: sorted(m for m in _imported_modules(path) if m.split(".")[0] == "agentpost")
        for path in revisions
    }
    assert {name: modules for name, modules in leaks.items() if modules} == {}


async def test_a_copy_of_the_test_template_is_a_migrated_database(
    any_ctx: AppContext, tmp_path: Path
) -> None:
    """Most tests start from a copy of a migrated template (agentpost/testing/templates.py)
    rather than migrating: a copy is at the head revision, with exactly the tables of
    storage/tables, and a template is named by the migrations it was made with."""

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    assert await _inspect(any_ctx.db, current) == CHAIN[-1]
    assert await _inspect(any_ctx.db, _differences(metadata)) == []

    # The digest follows every byte of the scripts: an edited migration gets a new template.
    assert templates.migrations_digest(VERSIONS) == templates.migrations_digest()
    edited = tmp_path / "versions"
    shutil.copytree(VERSIONS, edited)
    script = edited / f"{CHAIN[-1]}.py"
    script.write_text(script.read_text() + "\n# edited\n")
    assert templates.migrations_digest(edited) != templates.migrations_digest()
