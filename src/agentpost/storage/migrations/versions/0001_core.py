"""Core schema: owners, agents, folders, messages, raw blobs, deliveries, full-text search.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

from agentpost.storage.tables import (
    agents,
    deliveries,
    folders,
    message_blobs,
    messages,
    owners,
    server_state,
)

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [server_state, owners, agents, folders, message_blobs, messages, deliveries]


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)
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
    for table in reversed(TABLES):
        table.drop(bind)
