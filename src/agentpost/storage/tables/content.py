"""Tables of the content area: contacts, drafts, signatures, templates and scheduled sends.

Every row belongs to one agent (``agent_id``, removed with the agent) and is addressed by a
random UUID, so ids reveal nothing and never collide across agents. Drafts are rows rather
than messages in a Drafts folder: they are edited in place and never delivered as they stand.

``scheduled_sends.status`` moves ``pending → sending → sent | failed`` or ``pending →
cancelled``. ``claim_token``/``lease_until`` mark a scheduler's claim on a due row (see
services/scheduled.py for the exactly-once argument).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from agentpost.storage.tables.core import metadata


def _agent_column() -> Column[str]:
    return Column(
        "agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )


contacts = Table(
    "contacts",
    metadata,
    Column("id", String(36), primary_key=True),
    _agent_column(),
    Column("email", String(320), nullable=False),
    # Lower-cased address: the lookup key of is_contact and of the one-row-per-address rule.
    Column("email_key", String(320), nullable=False),
    Column("name", Text, nullable=True),
    Column("notes", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "email_key", name="uq_contacts_agent_email"),
)

drafts = Table(
    "drafts",
    metadata,
    Column("id", String(36), primary_key=True),
    _agent_column(),
    Column("to_addrs", Text, nullable=True),
    Column("cc_addrs", Text, nullable=True),
    Column("bcc_addrs", Text, nullable=True),
    Column("subject", Text, nullable=True),
    Column("text_body", Text, nullable=True),
    Column("html_body", Text, nullable=True),
    Column("in_reply_to", String(998), nullable=True),
    Column("references", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_drafts_agent_updated", "agent_id", "updated_at"),
)

signatures = Table(
    "signatures",
    metadata,
    Column("id", String(36), primary_key=True),
    _agent_column(),
    Column("name", String(200), nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "name", name="uq_signatures_agent_name"),
)

templates = Table(
    "templates",
    metadata,
    Column("id", String(36), primary_key=True),
    _agent_column(),
    Column("name", String(200), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "name", name="uq_templates_agent_name"),
)

scheduled_sends = Table(
    "scheduled_sends",
    metadata,
    Column("id", String(36), primary_key=True),
    _agent_column(),
    Column("to_addrs", Text, nullable=False),
    Column("cc_addrs", Text, nullable=True),
    Column("bcc_addrs", Text, nullable=True),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=True),
    Column("signature", Boolean, nullable=False, default=True),
    Column("send_at", DateTime(timezone=True), nullable=False),
    # When a scheduler should next look at the row: send_at, or later after a deferral.
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claim_token", String(36), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("message_id", String(998), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_scheduled_agent_send_at", "agent_id", "send_at"),
    Index("ix_scheduled_status_due", "status", "due_at"),
)
