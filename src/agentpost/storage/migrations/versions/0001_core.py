"""The schema: every table of storage/tables, and full-text search.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

from agentpost.storage.tables import metadata

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # Every table of every area, from the live definitions: nothing has been released yet, so
    # there is no older schema to upgrade from. Freeze this into literal DDL before a release.
    metadata.create_all(bind)
    if bind.dialect.name == "sqlite":
        # unicode61 splits addresses at '@' and '.', so "alice" finds alice@example.com.
        op.execute(
            "CREATE VIRTUAL TABLE messages_fts USING fts5("
            "from_text, to_text, subject, body, tokenize='unicode61 remove_diacritics 2')"
        )
    else:
        op.execute("ALTER TABLE messages ADD COLUMN search_vector tsvector")
        op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE messages_fts")
    metadata.drop_all(bind)
