"""Table definitions (SQLAlchemy Core), used by the repositories.

One module per area, all on the one ``metadata``; importing this package registers every table.
The migrations do not import it: each revision spells out its own DDL, and
tests/storage/test_migrations.py fails when these definitions and the migrated schema drift
apart (a change here needs a new revision). Raw RFC 5322 bytes live in ``message_blobs``, apart from
the parsed and indexed fields in ``messages``, so listing and searching never drag message
bodies through memory. Full-text search is dialect-specific (storage/search.py): an FTS5 table
``messages_fts`` on SQLite, made by the migrations; tsvector columns with GIN indexes on
PostgreSQL.

    core         server state, owners, agents, folders, messages, blobs, deliveries
    audit        the hash-chained audit log
    smtp         SMTP configurations and vault keys
    permissions  agent permissions, send windows, idempotency keys
    lifecycle    deletion reports and archived mailboxes of deleted agents
    relay        relay gateway accounts and IMAP sync state
    content      drafts, templates, signatures, contacts, scheduled sends
    workflow     tags, rules, tasks, deletion reports
    guard        held outbound mail awaiting approval
    notices      the system outbox: mail AgentPost sends to owners
    scanning     inbound scan results and sender reports
"""

from __future__ import annotations

from agentpost.storage.tables import (  # noqa: F401 (imported to register their tables)
    audit,
    content,
    guard,
    lifecycle,
    notices,
    permissions,
    relay,
    scanning,
    smtp,
    workflow,
)
from agentpost.storage.tables.core import (
    SEARCH_COLUMNS,
    Id,
    agents,
    deliveries,
    folders,
    message_blobs,
    messages,
    metadata,
    owners,
    server_state,
)

__all__ = [
    "SEARCH_COLUMNS",
    "Id",
    "agents",
    "deliveries",
    "folders",
    "message_blobs",
    "messages",
    "metadata",
    "owners",
    "server_state",
]
