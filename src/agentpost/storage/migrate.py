"""Bring the schema to the newest Alembic revision, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from agentpost.storage.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(db: Database) -> None:
    """Apply every migration not yet applied. Safe to call on every start."""

    def _run(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), "head")

    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            # Several processes may start at once; one migrates, the others wait for it.
            await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7210431)")
        await conn.run_sync(_run)
