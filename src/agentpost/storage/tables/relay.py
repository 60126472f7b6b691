"""Relay gateway: an owner's existing mail account (Gmail, Outlook, custom) and its IMAP sync.

The SMTP side of a relay account is an ordinary SMTP configuration (``smtp_configs``), named
by ``smtp_config_id`` (set to NULL if that configuration is deleted); this table holds the IMAP
side. ``imap_password`` is a vault token
(agentpost/vault.py, context ``relay_accounts:<id>``) and ``imap_password_key_id`` repeats its
key id for rotation, as in ``smtp_configs``.

Exactly-once fetching (RFC 3501 §2.3.1.1): a UID names one message only within one
UIDVALIDITY epoch, so the pair (``uid_validity``, ``last_seen_uid``) is the high-water mark. It
advances in the same transaction that stores the imported copy, so a crash either keeps both or
neither. ``relay_imports`` remembers each imported relay message, which also stops a manual
import (import_relay_email) from storing one twice.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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

from agentpost.storage.tables.core import Id, metadata

relay_accounts = Table(
    "relay_accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    # One relay account per owner: the address agents appear as is the owner's own.
    Column("owner_id", String(36), ForeignKey("owners.id"), nullable=False, unique=True),
    Column("provider", String(16), nullable=False),
    Column("email", String(320), nullable=False),
    # Deleting the SMTP configuration disconnects only the relay's outbound side: the IMAP
    # side keeps importing, sends stop leaving through the relay (services/relay_outbound.py
    # treats NULL as "no SMTP side"), and setting the relay up again makes a new one. Refusing
    # the delete instead would leave an owner unable to remove a configuration they chose to
    # remove; pointing at nothing (no key at all) is what this replaces.
    Column(
        "smtp_config_id",
        String(36),
        ForeignKey("smtp_configs.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("imap_host", String(253), nullable=False),
    Column("imap_port", Integer, nullable=False),
    Column("imap_security", String(16), nullable=False),
    Column("imap_username", String(320), nullable=False),
    Column("imap_password", Text, nullable=False),
    Column("imap_password_key_id", String(32), nullable=False),
    Column("mailbox", String(200), nullable=False),
    Column("default_agent_id", String(36), ForeignKey("agents.id", ondelete="SET NULL")),
    Column("uid_validity", BigInteger, nullable=True),
    Column("last_seen_uid", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # active | error
    Column("last_error", Text, nullable=True),
    Column("last_sync_at", DateTime(timezone=True), nullable=True),
    Column("imported_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_relay_accounts_key", "imap_password_key_id"),
)

relay_imports = Table(
    "relay_imports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "account_id",
        String(36),
        ForeignKey("relay_accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("uid_validity", BigInteger, nullable=False),
    Column("uid", BigInteger, nullable=False),
    # NULL when the message was skipped (our own send, or already in the agent's mailbox).
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("message_id", String(998), nullable=False),
    # subaddress | thread | default | manual | skip, or held: the agent's mailbox was full, the
    # message waits on the account and later syncs retry it (services/relay_sync.retry_held).
    Column("route", String(16), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("account_id", "uid_validity", "uid", name="uq_relay_imports_uid"),
)
