"""The first schema: every table, its keys and indexes, and full-text search.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-22

Frozen: this file spells out its DDL and imports nothing from ``agentpost.storage.tables``, so
revision 0001 means the same schema whenever and wherever it runs. A change to the table
definitions needs a new revision; tests/storage/test_migrations.py fails until it exists.

It creates the shape that 0002 and 0003 start from, not the newest one: folders without their
counters, messages and message_blobs without ``insert_order``, and on PostgreSQL the single
weighted ``search_vector`` that 0002 splits into four. The alternative, creating the newest
shape here and having 0002/0003 skip what already exists, would give a revision two meanings
(fresh database or upgraded one) and a downgrade of 0002 that does not lead back to what this
revision made; this way every revision is one fixed step and each downgrade its exact inverse.
Tables added after 0003 was written live here too, because nothing had been released then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

# Big integer keys, except on SQLite, where an INTEGER primary key is the rowid.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)

# Creation order; the downgrade drops them in reverse, children before their parents.
TABLES = (
    "server_state",
    "owners",
    "agents",
    "folders",
    "message_blobs",
    "messages",
    "deliveries",
    "delivery_attempts",
    "audit_log",
    "smtp_configs",
    "agent_permissions",
    "send_log",
    "idempotency_keys",
    "deletion_reports",
    "archived_messages",
    "relay_accounts",
    "relay_imports",
    "contacts",
    "drafts",
    "signatures",
    "templates",
    "scheduled_sends",
    "tags",
    "message_tags",
    "rules",
    "tasks",
    "guard_policies",
    "pending_outbound",
    "system_notices",
    "message_scans",
    "sender_reports",
    "reply_log",
)


def _agent_id(name: str = "agent_id", *, primary_key: bool = False) -> sa.Column[str]:
    """The usual reference to an agent: its rows go when the agent goes."""
    return sa.Column(
        name,
        sa.String(36),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    _create_accounts()
    _create_mail()
    _create_deliveries()
    _create_audit_and_smtp()
    _create_permissions()
    _create_lifecycle()
    _create_relay()
    _create_content()
    _create_workflow()
    _create_guard_and_notices()
    _create_scanning()
    _create_search()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE messages_fts")
    for table in reversed(TABLES):  # PostgreSQL's search_vector and its index go with messages
        op.drop_table(table)


def _create_accounts() -> None:
    op.create_table(
        "server_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "owners",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("key_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), sa.ForeignKey("owners.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", sa.String(64), nullable=False, unique=True),
        sa.Column("address", sa.String(320), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("persistent", sa.Boolean(), nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("last_activity_at", WHEN, nullable=True),
    )
    op.create_index("ix_agents_owner_id", "agents", ["owner_id"])


def _create_mail() -> None:
    # message_count/unseen_count (0002) and insert_order (0003) come later.
    op.create_table(
        "folders",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _agent_id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("special_use", sa.String(16), nullable=True),
        sa.Column("uid_next", sa.Integer(), nullable=False),
        sa.Column("uid_validity", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "name", name="uq_folders_agent_name"),
    )
    op.create_table(
        "message_blobs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _agent_id(),
        sa.Column("folder_id", ID, sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("blob_id", ID, sa.ForeignKey("message_blobs.id"), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("in_reply_to", sa.String(998), nullable=True),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("thread_id", sa.String(998), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_addr", sa.String(320), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=False),
        sa.Column("to_addrs", sa.JSON(), nullable=False),
        sa.Column("cc_addrs", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.JSON(), nullable=False),
        sa.Column("date", WHEN, nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.UniqueConstraint("folder_id", "uid", name="uq_messages_folder_uid"),
    )
    op.create_index("ix_messages_agent_folder_uid", "messages", ["agent_id", "folder_id", "uid"])
    op.create_index("ix_messages_agent_thread", "messages", ["agent_id", "thread_id"])
    op.create_index("ix_messages_agent_message_id", "messages", ["agent_id", "message_id"])


def _create_deliveries() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "message_row_id",
            ID,
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _agent_id(),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config_id", sa.String(36), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", WHEN, nullable=True),
        sa.Column("deadline_at", WHEN, nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_index("ix_deliveries_message", "deliveries", ["message_row_id"])
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id", ID, sa.ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
    )
    op.create_index(
        "ix_delivery_attempts_delivery", "delivery_attempts", ["delivery_id", "attempt"]
    )


def _create_audit_and_smtp() -> None:
    op.create_table(
        "audit_log",
        # Assigned by the appender, in chain order: no sequence (BIGSERIAL) on PostgreSQL.
        sa.Column("seq", ID, primary_key=True, autoincrement=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=True),
        sa.Column("agent_id", sa.String(36), nullable=True),
        sa.Column("config_id", sa.String(36), nullable=True),
        sa.Column("operation", sa.String(48), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_owner_at", "audit_log", ["owner_id", "at"])
    op.create_index("ix_audit_agent_at", "audit_log", ["agent_id", "at"])
    op.create_index("ix_audit_operation", "audit_log", ["operation"])
    op.create_table(
        "smtp_configs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), sa.ForeignKey("owners.id"), nullable=False),
        sa.Column("connection_name", sa.String(100), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(16), nullable=False),
        sa.Column("username", sa.String(320), nullable=True),
        sa.Column("password_ciphertext", sa.Text(), nullable=True),
        sa.Column("password_key_id", sa.String(32), nullable=True),
        sa.Column("from_email", sa.String(320), nullable=False),
        sa.Column("from_name", sa.String(200), nullable=True),
        sa.Column("reply_to", sa.String(320), nullable=True),
        sa.Column("connection_timeout", sa.Integer(), nullable=False),
        sa.Column("max_emails_per_day", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("allow_insecure", sa.Boolean(), nullable=False),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("last_tested_at", WHEN, nullable=True),
        sa.Column("last_test_ok", sa.Boolean(), nullable=True),
        sa.UniqueConstraint("owner_id", "connection_name", name="uq_smtp_configs_owner_name"),
    )
    op.create_index("ix_smtp_configs_owner", "smtp_configs", ["owner_id"])
    op.create_index("ix_smtp_configs_key", "smtp_configs", ["password_key_id"])


def _create_permissions() -> None:
    op.create_table(
        "agent_permissions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.String(36), nullable=False),
        _agent_id(),
        sa.Column(
            "config_id",
            sa.String(36),
            sa.ForeignKey("smtp_configs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("can_send", sa.Boolean(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("hourly_limit", sa.Integer(), nullable=True),
        sa.Column("allowed_recipients", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "config_id", name="uq_agent_permissions_agent_config"),
    )
    op.create_index("ix_agent_permissions_config", "agent_permissions", ["config_id"])
    op.create_table(
        "send_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(36), nullable=False),  # no FK: outlives its agent
        sa.Column("config_id", sa.String(36), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("sent_at", WHEN, nullable=False),
    )
    op.create_index("ix_send_log_agent_at", "send_log", ["agent_id", "sent_at"])
    op.create_index("ix_send_log_config_at", "send_log", ["config_id", "sent_at"])
    op.create_table(
        "idempotency_keys",
        _agent_id(primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
    )


def _create_lifecycle() -> None:
    op.create_table(
        "deletion_reports",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("agent_id", sa.String(36), nullable=False),
        sa.Column("agent_name", sa.String(64), nullable=False),
        sa.Column("agent_email", sa.String(320), nullable=False),
        sa.Column("agent_role", sa.String(32), nullable=False),
        sa.Column("deleted_at", WHEN, nullable=False),
        sa.Column("deleted_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("total_emails", sa.Integer(), nullable=False),
        sa.Column("folder_counts", sa.JSON(), nullable=False),
        sa.Column("top_correspondents", sa.JSON(), nullable=False),
        sa.Column("first_date", WHEN, nullable=True),
        sa.Column("last_date", WHEN, nullable=True),
    )
    op.create_index("ix_deletion_reports_owner_at", "deletion_reports", ["owner_id", "deleted_at"])
    op.create_table(
        "archived_messages",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "report_id",
            sa.String(36),
            sa.ForeignKey("deletion_reports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("folder", sa.String(200), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_addr", sa.String(320), nullable=False),
        sa.Column("to_addrs", sa.JSON(), nullable=False),
        sa.Column("date", WHEN, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_archived_messages_report", "archived_messages", ["report_id"])


def _create_relay() -> None:
    op.create_table(
        "relay_accounts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "owner_id", sa.String(36), sa.ForeignKey("owners.id"), nullable=False, unique=True
        ),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column(
            "smtp_config_id",
            sa.String(36),
            sa.ForeignKey("smtp_configs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("imap_host", sa.String(253), nullable=False),
        sa.Column("imap_port", sa.Integer(), nullable=False),
        sa.Column("imap_security", sa.String(16), nullable=False),
        sa.Column("imap_username", sa.String(320), nullable=False),
        sa.Column("imap_password", sa.Text(), nullable=False),
        sa.Column("imap_password_key_id", sa.String(32), nullable=False),
        sa.Column("mailbox", sa.String(200), nullable=False),
        sa.Column(
            "default_agent_id",
            sa.String(36),
            sa.ForeignKey("agents.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("uid_validity", sa.BigInteger(), nullable=True),
        sa.Column("last_seen_uid", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_sync_at", WHEN, nullable=True),
        sa.Column("imported_count", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index("ix_relay_accounts_key", "relay_accounts", ["imap_password_key_id"])
    op.create_table(
        "relay_imports",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "account_id",
            sa.String(36),
            sa.ForeignKey("relay_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("uid_validity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column(
            "agent_id",
            sa.String(36),
            sa.ForeignKey("agents.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("imported_at", WHEN, nullable=False),
        sa.UniqueConstraint("account_id", "uid_validity", "uid", name="uq_relay_imports_uid"),
    )


def _create_content() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(36), primary_key=True),
        _agent_id(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "email_key", name="uq_contacts_agent_email"),
    )
    op.create_table(
        "drafts",
        sa.Column("id", sa.String(36), primary_key=True),
        _agent_id(),
        sa.Column("to_addrs", sa.Text(), nullable=True),
        sa.Column("cc_addrs", sa.Text(), nullable=True),
        sa.Column("bcc_addrs", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("in_reply_to", sa.String(998), nullable=True),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index("ix_drafts_agent_updated", "drafts", ["agent_id", "updated_at"])
    op.create_table(
        "signatures",
        sa.Column("id", sa.String(36), primary_key=True),
        _agent_id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "name", name="uq_signatures_agent_name"),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.String(36), primary_key=True),
        _agent_id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "name", name="uq_templates_agent_name"),
    )
    _create_scheduled_sends()


def _create_scheduled_sends() -> None:
    op.create_table(
        "scheduled_sends",
        sa.Column("id", sa.String(36), primary_key=True),
        _agent_id(),
        sa.Column("to_addrs", sa.Text(), nullable=False),
        sa.Column("cc_addrs", sa.Text(), nullable=True),
        sa.Column("bcc_addrs", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("signature", sa.Boolean(), nullable=False),
        sa.Column("send_at", WHEN, nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index("ix_scheduled_agent_send_at", "scheduled_sends", ["agent_id", "send_at"])
    op.create_index("ix_scheduled_status_due", "scheduled_sends", ["status", "due_at"])


def _create_workflow() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.String(36), primary_key=True),
        _agent_id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", sa.String(64), nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "name_key", name="uq_tags_agent_name"),
    )
    op.create_table(
        "message_tags",
        sa.Column(
            "tag_id", sa.String(36), sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "message_row_id",
            ID,
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_message_tags_message", "message_tags", ["message_row_id"])
    op.create_table(
        "rules",
        sa.Column("id", sa.String(36), primary_key=True),
        _agent_id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_key", sa.String(128), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "name_key", name="uq_rules_agent_name"),
    )
    _create_tasks()


def _create_tasks() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "owner_id",
            sa.String(36),
            sa.ForeignKey("owners.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "assigner_id",
            sa.String(36),
            sa.ForeignKey("agents.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("assigner_name", sa.String(64), nullable=False),
        _agent_id("assignee_id"),
        sa.Column("assignee_name", sa.String(64), nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("claimed_at", WHEN, nullable=True),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.Column("expires_at", WHEN, nullable=True),
    )
    op.create_index("ix_tasks_assignee_status", "tasks", ["assignee_id", "status"])
    op.create_index("ix_tasks_assigner_created", "tasks", ["assigner_id", "created_at"])


def _create_guard_and_notices() -> None:
    op.create_table(
        "guard_policies",
        _agent_id(primary_key=True),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_table(
        "pending_outbound",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), nullable=False),
        _agent_id(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("resolved_at", WHEN, nullable=True),
        sa.Column("resolved_by", sa.String(32), nullable=True),
        sa.Column("notified_at", WHEN, nullable=True),
        sa.Column("reminded_at", WHEN, nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_pending_agent_created", "pending_outbound", ["agent_id", "created_at"])
    op.create_index("ix_pending_owner_created", "pending_outbound", ["owner_id", "created_at"])
    op.create_table(
        "system_notices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "owner_id",
            sa.String(36),
            sa.ForeignKey("owners.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pending_id", sa.String(36), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("deadline_at", WHEN, nullable=False),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("sent_at", WHEN, nullable=True),
    )
    op.create_index("ix_system_notices_due", "system_notices", ["status", "next_attempt_at"])
    op.create_index("ix_system_notices_pending", "system_notices", ["pending_id"])


def _create_scanning() -> None:
    op.create_table(
        "message_scans",
        sa.Column(
            "message_row_id",
            ID,
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _agent_id(),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
    )
    op.create_table(
        "sender_reports",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _agent_id(),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("agent_id", "sender", name="uq_sender_reports_agent_sender"),
    )
    op.create_table(
        "reply_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _agent_id(),
        sa.Column("counterparty", sa.String(320), nullable=False),
        sa.Column("thread_key", sa.String(998), nullable=False),
        sa.Column("is_reply", sa.Boolean(), nullable=False),
        sa.Column("sent_at", WHEN, nullable=False),
    )
    op.create_index(
        "ix_reply_log_agent_party", "reply_log", ["agent_id", "counterparty", "sent_at"]
    )


def _create_search() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # unicode61 splits addresses at '@' and '.', so "alice" finds alice@example.com.
        op.execute(
            "CREATE VIRTUAL TABLE messages_fts USING fts5("
            "from_text, to_text, subject, body, tokenize='unicode61 remove_diacritics 2')"
        )
        return
    # One weighted vector (A from, B to, C subject, D body); 0002 splits it per field.
    op.execute("ALTER TABLE messages ADD COLUMN search_vector tsvector")
    op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")
