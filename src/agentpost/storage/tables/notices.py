"""Tables of the system outbox: mail AgentPost itself sends to owners.

``system_notices`` holds each notice (an approval request for held mail, the answer to an
owner's reply) until the worker role has sent it through the owner's default SMTP
configuration. Notices never enter an agent's mailbox: an approval request carries the token
that releases held mail, and the agent that wrote that mail must never see it.

A row stores the text, never the token: an approval request keeps a random ``nonce``, and the
token in its Reply-To is derived from it with the server's hashing secret when the mail is
built (services/approval_notice.py), so the database alone does not reveal it. ``status``
moves ``queued → sending → sent | failed``; a ``sending`` row whose lease ran out (a crashed
worker) is due again.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from agentpost.storage.tables.core import metadata

system_notices = Table(
    "system_notices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("owners.id", ondelete="CASCADE"), nullable=False),
    # approval | decision | refusal | syntax (what the notice is about, for audit and tests)
    Column("kind", String(16), nullable=False),
    Column("pending_id", String(36), nullable=True),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("nonce", String(64), nullable=True),
    # The held content an approval request shows: a reply to it approves exactly this.
    Column("content_hash", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("last_reply", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("ix_system_notices_due", "status", "next_attempt_at"),
    Index("ix_system_notices_pending", "pending_id"),
)
