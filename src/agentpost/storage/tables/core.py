"""Core tables: server state, owners, agents, folders, messages, raw blobs and deliveries.

Raw RFC 5322 bytes live in ``message_blobs``, apart from the parsed and indexed fields in
``messages``, so listing and searching never drag message bodies through memory.
Full-text search is dialect-specific (storage/search.py): an FTS5 table ``messages_fts`` on
SQLite, made by the migrations; tsvector columns with GIN indexes on PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert_sentinel,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

metadata = MetaData()
SEARCH_COLUMNS = ("search_from", "search_to", "search_subject", "search_text")

# BigInteger primary keys become INTEGER (rowid aliases) on SQLite thanks to the variant.
Id = BigInteger().with_variant(Integer, "sqlite")

server_state = Table(
    "server_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

owners = Table(
    "owners",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("email", String(320), nullable=True),
    Column("key_hash", String(64), nullable=True, unique=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("owners.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False, unique=True),
    Column("address", String(320), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("metadata", JSON, nullable=False),
    Column("persistent", Boolean, nullable=False, default=False),
    # Kept up to date on every store and expunge so the RCPT quota check is one row read.
    Column("used_bytes", BigInteger, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=True),
)

folders = Table(
    "folders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("special_use", String(16), nullable=True),
    # IMAP semantics (RFC 3501 §2.3.1.1): UIDs only grow within a UIDVALIDITY epoch.
    Column("uid_next", Integer, nullable=False, default=1),
    Column("uid_validity", Integer, nullable=False),
    # Kept by database triggers on messages (migration 0002), so a listing's total and the
    # folder list never count rows: IMAP's EXISTS and UNSEEN for free.
    Column("message_count", Integer, nullable=False, server_default=text("0")),
    Column("unseen_count", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "name", name="uq_folders_agent_name"),
)

message_blobs = Table(
    "message_blobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("raw", LargeBinary, nullable=False),
    # Lets SQLAlchemy insert many rows in one statement and still hand back their ids in
    # order (SQLite gives RETURNING rows in no guaranteed order): group commit relies on it.
    insert_sentinel("insert_order"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("folder_id", Id, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("uid", Integer, nullable=False),
    Column("blob_id", Id, ForeignKey("message_blobs.id"), nullable=False),
    Column("message_id", String(998), nullable=False),
    Column("in_reply_to", String(998), nullable=True),
    Column("references", Text, nullable=True),
    Column("thread_id", String(998), nullable=False),
    Column("subject", Text, nullable=False),
    Column("from_addr", String(320), nullable=False),
    Column("from_name", Text, nullable=False),
    Column("to_addrs", JSON, nullable=False),
    Column("cc_addrs", JSON, nullable=False),
    Column("reply_to", JSON, nullable=False),
    Column("date", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("size", Integer, nullable=False),
    Column("flags", JSON, nullable=False),
    Column("seen", Boolean, nullable=False, default=False),
    Column("attachments", JSON, nullable=False),
    Column("preview", Text, nullable=False),
    Column("direction", String(8), nullable=False),
    insert_sentinel("insert_order"),  # see message_blobs
    # PostgreSQL full-text vectors, one per searchable field (see storage/search.py); SQLite
    # uses its FTS5 table instead and leaves these NULL. Never selected with a message.
    *(
        Column(name, TSVECTOR().with_variant(Text, "sqlite"), nullable=True)
        for name in SEARCH_COLUMNS
    ),
    UniqueConstraint("folder_id", "uid", name="uq_messages_folder_uid"),
    Index("ix_messages_agent_folder_uid", "agent_id", "folder_id", "uid"),
    Index("ix_messages_agent_thread", "agent_id", "thread_id"),
    Index("ix_messages_agent_message_id", "agent_id", "message_id"),
    # Expunge asks "does any copy still use this blob?" for every removed message.
    Index("ix_messages_blob", "blob_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_row_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("kind", String(8), nullable=False),
    # local: delivered | failed. external: queued → sending → delivered | deferred (retrying)
    # | failed; held (awaiting the owner's approval) is never claimed by a worker.
    Column("status", String(16), nullable=False),
    # The SMTP configuration the send was granted (None: the owner's default at delivery).
    Column("config_id", String(36), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("last_code", Integer, nullable=True),
    # Due for a (first or next) attempt from this time; new rows are due at once.
    Column(
        "next_attempt_at",
        DateTime(timezone=True),
        nullable=True,
        default=lambda context: context.get_current_parameters()["created_at"],
    ),
    # Set when a worker first claims the row: retries stop and the row fails after it.
    Column("deadline_at", DateTime(timezone=True), nullable=True),
    # A worker's claim: while the lease runs nobody else sends the row; a crashed worker's
    # expired lease makes the row due again.
    Column("claimed_by", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_deliveries_status", "status"),
    Index("ix_deliveries_message", "message_row_id"),
    # The worker's claim: "rows in this status that are due by now", oldest first.
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# One row per SMTP attempt per recipient: outcomes are data, not log lines.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered | deferred | failed
    Column("code", Integer, nullable=True),
    Column("reply", Text, nullable=True),
    Column("worker", String(64), nullable=True),
    Index("ix_delivery_attempts_delivery", "delivery_id", "attempt"),
)
