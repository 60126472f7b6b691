"""Insert-order sentinel columns on messages and message_blobs.

They let one multi-row INSERT ... RETURNING hand back the new ids in input order, which group
commit needs (SQLite returns RETURNING rows in no guaranteed order, so without a sentinel
SQLAlchemy falls back to one statement per row). Frozen like 0001 (see there): 0001 creates
both tables without the column, so it is added unconditionally.

Revision ID: 0003_insert_order
Revises: 0002_folder_counters
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_insert_order"
down_revision = "0002_folder_counters"
branch_labels = None
depends_on = None

TABLES = ("messages", "message_blobs")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("insert_order", sa.Integer(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite since 3.35 (no table rebuild).
    for table in TABLES:
        op.drop_column(table, "insert_order")
