"""Per-folder message and unseen counters kept by triggers; SQLite search index.

Counting a 100,000-message folder on every listing costs more than the listing itself, so
``folders.message_count`` and ``folders.unseen_count`` are maintained by row triggers on
``messages``: every insert, delete, move (folder_id change) and seen change, from any code
path, including cascades. Existing rows are counted once here.

On SQLite, ``ix_messages_agent_search (agent_id, id, date)`` lets a search check that each
full-text hit belongs to the agent, and order the hits by date, from a small covering index
instead of the wide message rows. PostgreSQL filters on the GIN index and needs no such index.

Revision ID: 0002_folder_counters
Revises: 0001_core
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_folder_counters"
down_revision = "0001_core"
branch_labels = None
depends_on = None

COUNTERS = ("message_count", "unseen_count")

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
BACKFILL = """UPDATE folders SET
    message_count = (SELECT count(*) FROM messages WHERE messages.folder_id = folders.id),
    unseen_count = (SELECT count(*) FROM messages
                    WHERE messages.folder_id = folders.id AND NOT messages.seen)"""


def upgrade() -> None:
    bind = op.get_bind()
    # 0001 creates tables from the live definitions, so a fresh database has the columns.
    existing = {column["name"] for column in sa.inspect(bind).get_columns("folders")}
    for name in COUNTERS:
        if name not in existing:
            op.add_column(
                "folders",
                sa.Column(name, sa.Integer, nullable=False, server_default=sa.text("0")),
            )
    op.execute(BACKFILL)
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        op.create_index("ix_messages_agent_search", "messages", ["agent_id", "id", "date"])
    else:
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_messages_agent_search", table_name="messages")
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER messages_count_{name}")
    else:
        op.execute("DROP TRIGGER messages_count_folders ON messages")
        op.execute("DROP FUNCTION messages_count_folders()")
    with op.batch_alter_table("folders") as batch:
        for name in COUNTERS:
            batch.drop_column(name)
