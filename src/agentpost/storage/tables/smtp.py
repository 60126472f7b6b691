"""SMTP configurations: an owner's outbound mail accounts, with the password sealed by the vault.

``password_ciphertext`` is a vault token (``<key id>:<nonce+ciphertext, base64>``, see
agentpost/vault.py) and ``password_key_id`` repeats its key id so a rotation can find every row
still sealed under an old key with one indexed query. The plaintext password is never stored.

An owner may mark one configuration ``is_default``; services/smtp_configs.py documents how the
default is chosen when none is marked.
"""

from __future__ import annotations

from sqlalchemy import (
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

smtp_configs = Table(
    "smtp_configs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("owners.id"), nullable=False),
    Column("connection_name", String(100), nullable=False),
    Column("host", String(253), nullable=False),
    Column("port", Integer, nullable=False),
    Column("security", String(16), nullable=False),
    Column("username", String(320), nullable=True),
    Column("password_ciphertext", Text, nullable=True),
    Column("password_key_id", String(32), nullable=True),
    Column("from_email", String(320), nullable=False),
    Column("from_name", String(200), nullable=True),
    Column("reply_to", String(320), nullable=True),
    Column("connection_timeout", Integer, nullable=False),
    Column("max_emails_per_day", Integer, nullable=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("allow_insecure", Boolean, nullable=False, default=False),
    # Certificate verification; only an owner's explicit choice turns it off (private CAs).
    Column("verify_tls", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_tested_at", DateTime(timezone=True), nullable=True),
    Column("last_test_ok", Boolean, nullable=True),
    UniqueConstraint("owner_id", "connection_name", name="uq_smtp_configs_owner_name"),
    Index("ix_smtp_configs_owner", "owner_id"),
    Index("ix_smtp_configs_key", "password_key_id"),
)
