"""Alembic revisions of the database schema, applied by agentpost.storage.migrate.

Every revision in ``versions/`` is frozen: it spells out its DDL and imports nothing from
agentpost, so a revision means the same schema on every database, whenever it runs. Changing
``storage/tables`` therefore takes a new revision that makes the same change (next number,
``down_revision`` = the current head, an upgrade and its exact inverse as downgrade).
tests/storage/test_migrations.py migrates empty SQLite and PostgreSQL databases and compares
the result with the table definitions; it fails, naming each difference, until the revision
exists. Never edit a released revision: databases that already ran it would not see the edit.
"""
