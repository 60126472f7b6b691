"""Migrated empty databases for tests to start from.

Migrating a new database to the head revision costs about 0.2 s on SQLite and 0.4 s on
PostgreSQL, and most tests start from one: over the suite, minutes. Each is migrated once
instead, and a test's database is a copy: the SQLite file copied, or on PostgreSQL
``CREATE DATABASE … TEMPLATE``. ``build_context`` still runs the migrations on the copy, and
finds nothing to do.

A template is named by a digest of the migration scripts, so a changed migration gets a new
one. On PostgreSQL it outlives the test run (the next run reuses it); older ones are dropped
when a new one is made.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from agentpost.config import Settings
from agentpost.storage.engine import Database
from agentpost.storage.migrate import MIGRATIONS, upgrade_to_head
from agentpost.testing.postgres import admin_dsn, database_url

TEMPLATE_PREFIX = "agentpost_template_"
TEMPLATE_FILE = "template.db"

_sqlite_templates: dict[Path, Path] = {}
_postgres_template: str | None = None


def migrations_digest(versions: Path = MIGRATIONS / "versions") -> str:
    """A short digest of every migration script: equal digests, equal schemas."""
    digest = hashlib.sha256()
    for script in sorted(versions.glob("*.py")):
        digest.update(script.name.encode())
        digest.update(script.read_bytes())
    return digest.hexdigest()[:16]


async def sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file in ``directory``, made on the first call (per directory)."""
    if directory not in _sqlite_templates:
        file = _fresh_file(directory)
        db = Database(f"sqlite+aiosqlite:///{file}")
        try:
            await upgrade_to_head(db)
        finally:
            await db.dispose()
        _sqlite_templates[directory] = file
    return _sqlite_templates[directory]


def _fresh_file(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / TEMPLATE_FILE
    file.unlink(missing_ok=True)
    return file


def seed_sqlite(template: Path, settings: Settings) -> None:
    """Put a copy of ``template`` where ``settings`` keeps its SQLite database, unless it
    names another database or its file exists already."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return
    target = Path(url.database)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


async def postgres_template() -> str:
    """The name of a migrated PostgreSQL database to copy, made if it does not exist yet.

    It is built under a name of its own and renamed when complete, so a run that stops
    half-way never leaves a half-migrated template, and concurrent test processes that both
    build one keep the first."""
    global _postgres_template
    if _postgres_template is None:
        _postgres_template = await _ensure_postgres_template(TEMPLATE_PREFIX + migrations_digest())
    return _postgres_template


async def _ensure_postgres_template(name: str) -> str:
    admin = await asyncpg.connect(admin_dsn())
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return name
        building = f"{name}_{uuid.uuid4().hex[:8]}"
        await admin.execute(f'CREATE DATABASE "{building}"')
        db = Database(database_url(building))
        try:
            await upgrade_to_head(db)
        finally:
            await db.dispose()
        try:
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        except asyncpg.DuplicateDatabaseError:  # another test process finished first
            await admin.execute(f'DROP DATABASE "{building}"')
            return name
        await _drop_stale_templates(admin, keep=name)
        return name
    finally:
        await admin.close()


async def _drop_stale_templates(admin: asyncpg.Connection, keep: str) -> None:
    stale = await admin.fetch(
        "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2",
        TEMPLATE_PREFIX + "%",
        keep,
    )
    for row in stale:
        # Another run may be copying it right now: it goes next time.
        try:
            await admin.execute(f'DROP DATABASE "{row["datname"]}"')
        except asyncpg.PostgresError:
            continue


__all__ = ["migrations_digest", "postgres_template", "seed_sqlite", "sqlite_template"]
