"""Per-folder counters kept by triggers; faster full-text search on both dialects.

Counting a 100,000-message folder on every listing costs more than the listing itself, so
``folders.message_count`` and ``folders.unseen_count`` are maintained by row triggers on
``messages``: every insert, delete, move (folder_id change) and seen change, from any code
path, including cascades. Existing rows are counted once here.

On SQLite, ``ix_messages_agent_search (agent_id, id, date)`` lets a search check that each
full-text hit belongs to the agent, and order the hits by date, from a small covering index
instead of the wide message rows. Hand-written planner statistics (sqlite_stat1, as the
SQLite documentation allows) describe one agent owning a large mailbox, so the plans do not
depend on whether ANALYZE ever ran: without them SQLite takes ``agent_id = ?`` for selective
and scans the whole mailbox instead of following the full-text hits.

``ix_messages_blob`` serves expunge, which asks whether any other copy still uses a blob.

On PostgreSQL, the one weighted ``search_vector`` becomes four unweighted vectors (from, to,
subject, subject + body), each with a GIN index, written with the row instead of by a second
UPDATE: a weight-restricted match re-reads every candidate's vector from TOAST, and the UPDATE
wrote every message twice. Existing vectors are split by weight (A from, B to, C subject).

Revision ID: 0002_folder_counters
Revises: 0001_core
Create Date: 2026-11-22

Frozen like 0001 (see there): literal DDL, nothing imported from agentpost.storage.tables. It
starts from exactly what 0001 makes, so every step is unconditional.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0002_folder_counters"
down_revision = "0001_core"
branch_labels = None
depends_on = None

COUNTERS = ("message_count", "unseen_count")
SEARCH_COLUMNS = ("search_from", "search_to", "search_subject", "search_text")

# One trigger per event on SQLite; NOT seen is 1 for an unseen message, 0 otherwise.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
        UPDATE folders SET message_count = message_count + 1,
            unseen_count = unseen_count + (NOT NEW.seen) WHERE id = NEW.folder_id;
    END""",
    """CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
        UPDATE folders SET message_count = message_count - 1,
            unseen_count = unseen_count - (NOT OLD.seen) WHERE id = OLD.folder_id;
    END""",
    """CREATE TRIGGER messages_count_update AFTER UPDATE OF folder_id, seen ON messages
    WHEN OLD.folder_id != NEW.folder_id OR OLD.seen != NEW.seen BEGIN
        UPDATE folders SET message_count = message_count - 1,
            unseen_count = unseen_count - (NOT OLD.seen) WHERE id = OLD.folder_id;
        UPDATE folders SET message_count = message_count + 1,
            unseen_count = unseen_count + (NOT NEW.seen) WHERE id = NEW.folder_id;
    END""",
]
POSTGRES_FUNCTION = """CREATE FUNCTION messages_count_folders() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.folder_id = NEW.folder_id AND OLD.seen = NEW.seen THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE folders SET message_count = message_count - 1,
            unseen_count = unseen_count - (CASE WHEN OLD.seen THEN 0 ELSE 1 END)
        WHERE id = OLD.folder_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE folders SET message_count = message_count + 1,
            unseen_count = unseen_count + (CASE WHEN NEW.seen THEN 0 ELSE 1 END)
        WHERE id = NEW.folder_id;
    END IF;
    RETURN NULL;
END $$"""
POSTGRES_TRIGGER = """CREATE TRIGGER messages_count_folders
AFTER INSERT OR DELETE OR UPDATE OF folder_id, seen ON messages
FOR EACH ROW EXECUTE FUNCTION messages_count_folders()"""
SPLIT_VECTOR = """UPDATE messages SET
    search_from = ts_filter(search_vector, '{a}'), search_to = ts_filter(search_vector, '{b}'),
    search_subject = ts_filter(search_vector, '{c}'),
    search_text = ts_filter(search_vector, '{c,d}')"""
# Rows in the index, then rows per distinct value of its leading 1, 2, ... columns.
SQLITE_STATS = {
    "ix_messages_agent_search": "100000 100000 1 1",
    "ix_messages_agent_folder_uid": "100000 100000 20000 1",
    "ix_messages_agent_thread": "100000 100000 3",
    "ix_messages_agent_message_id": "100000 100000 1",
    "ix_messages_blob": "100000 2",
    "sqlite_autoindex_messages_1": "100000 20000 1",
}
BACKFILL = """UPDATE folders SET
    message_count = (SELECT count(*) FROM messages WHERE messages.folder_id = folders.id),
    unseen_count = (SELECT count(*) FROM messages
                    WHERE messages.folder_id = folders.id AND NOT messages.seen)"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _add_columns(sqlite)
    op.create_index("ix_messages_blob", "messages", ["blob_id"])
    op.execute(BACKFILL)
    if sqlite:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        op.create_index("ix_messages_agent_search", "messages", ["agent_id", "id", "date"])
        _write_sqlite_stats()
        return
    op.execute(POSTGRES_FUNCTION)
    op.execute(POSTGRES_TRIGGER)
    op.execute(SPLIT_VECTOR)
    op.drop_index("ix_messages_search", table_name="messages")
    op.drop_column("messages", "search_vector")
    for name in SEARCH_COLUMNS:
        op.execute(f"CREATE INDEX ix_messages_{name} ON messages USING gin ({name})")


def _add_columns(sqlite: bool) -> None:
    for name in COUNTERS:
        op.add_column(
            "folders", sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    # SQLite searches its FTS5 table and leaves these NULL; they exist so one INSERT fits both.
    vector = sa.Text() if sqlite else TSVECTOR()
    for name in SEARCH_COLUMNS:
        op.add_column("messages", sa.Column(name, vector, nullable=True))


def _write_sqlite_stats() -> None:
    op.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 if it does not exist yet
    op.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'messages'")
    for index, stat in SQLITE_STATS.items():
        op.execute(
            sa.text(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('messages', :i, :s)"
            ).bindparams(i=index, s=stat)
        )
    op.execute("ANALYZE sqlite_schema")  # loads the statistics into this connection


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite since 3.35 (no table rebuild, which
    # would cascade-delete the messages of a recreated folders table).
    op.drop_index("ix_messages_blob", table_name="messages")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'messages'")
        op.drop_index("ix_messages_agent_search", table_name="messages")
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER messages_count_{name}")
    else:
        op.execute("DROP TRIGGER messages_count_folders ON messages")
        op.execute("DROP FUNCTION messages_count_folders()")
        op.execute("ALTER TABLE messages ADD COLUMN search_vector tsvector")
        op.execute(
            "UPDATE messages SET search_vector = setweight(search_from, 'A') || "
            "setweight(search_to, 'B') || setweight(search_subject, 'C') || "
            "setweight(search_text, 'D')"
        )
        op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")
    for name in SEARCH_COLUMNS:  # their GIN indexes go with them
        op.execute(f"ALTER TABLE messages DROP COLUMN {name}")
    for name in COUNTERS:
        op.execute(f"ALTER TABLE folders DROP COLUMN {name}")
