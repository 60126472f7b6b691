"""Alembic environment: runs on the connection handed over by agentpost.storage.migrate."""

from __future__ import annotations

from alembic import context

from agentpost.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `agentpost migrate` (agentpost.storage.migrate)")

# target_metadata only lets autogenerate draft a new revision; the revisions never read it.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
