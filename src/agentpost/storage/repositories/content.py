"""Contacts, drafts, signatures and templates: per-agent rows, always scoped by ``agent_id``.

Every read, update and delete names the agent, so one agent's id never reaches another
agent's row: a foreign id behaves exactly like an unknown one. Scheduled sends live in
``repositories/scheduled.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import utc
from agentpost.storage.tables.content import contacts, drafts, signatures, templates


@dataclass(frozen=True, slots=True)
class ContactRecord:
    id: str
    agent_id: str
    email: str
    name: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DraftRecord:
    id: str
    agent_id: str
    to: str | None
    cc: str | None
    bcc: str | None
    subject: str | None
    text: str | None
    html: str | None
    in_reply_to: str | None
    references: list[str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    id: str
    agent_id: str
    name: str
    text: str
    html: str | None
    is_default: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    id: str
    agent_id: str
    name: str
    subject: str
    text: str
    html: str | None
    created_at: datetime
    updated_at: datetime


def email_key(address: str) -> str:
    """Contacts match case-insensitively: domains are (RFC 5321 §2.4) and local parts almost
    always are in practice."""
    return address.strip().lower()


def _contact(row: RowMapping) -> ContactRecord:
    return ContactRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        email=row["email"],
        name=row["name"],
        notes=row["notes"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def _draft(row: RowMapping) -> DraftRecord:
    return DraftRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        to=row["to_addrs"],
        cc=row["cc_addrs"],
        bcc=row["bcc_addrs"],
        subject=row["subject"],
        text=row["text_body"],
        html=row["html_body"],
        in_reply_to=row["in_reply_to"],
        references=list(row["references"] or []),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def _signature(row: RowMapping) -> SignatureRecord:
    return SignatureRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        name=row["name"],
        text=row["text_body"],
        html=row["html_body"],
        is_default=bool(row["is_default"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def _template(row: RowMapping) -> TemplateRecord:
    return TemplateRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        name=row["name"],
        subject=row["subject"],
        text=row["text_body"],
        html=row["html_body"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


async def _one(conn: AsyncConnection, table: Table, agent_id: str, id: str) -> RowMapping | None:
    query = select(table).where(table.c.agent_id == agent_id, table.c.id == id)
    return (await conn.execute(query)).mappings().first()


async def _update(
    conn: AsyncConnection, table: Table, agent_id: str, id: str, values: dict[str, Any]
) -> bool:
    query = update(table).where(table.c.agent_id == agent_id, table.c.id == id).values(**values)
    return bool((await conn.execute(query)).rowcount)


async def _delete(conn: AsyncConnection, table: Table, agent_id: str, id: str) -> bool:
    query = delete(table).where(table.c.agent_id == agent_id, table.c.id == id)
    return bool((await conn.execute(query)).rowcount)


async def _count(conn: AsyncConnection, table: Table, agent_id: str) -> int:
    query = select(func.count()).select_from(table).where(table.c.agent_id == agent_id)
    return int((await conn.execute(query)).scalar_one())


# -- contacts ------------------------------------------------------------------------------


async def list_contacts(conn: AsyncConnection, agent_id: str) -> list[ContactRecord]:
    query = (
        select(contacts)
        .where(contacts.c.agent_id == agent_id)
        .order_by(func.lower(func.coalesce(contacts.c.name, "")), contacts.c.email_key)
    )
    return [_contact(row) for row in (await conn.execute(query)).mappings()]


async def get_contact(conn: AsyncConnection, agent_id: str, id: str) -> ContactRecord | None:
    row = await _one(conn, contacts, agent_id, id)
    return _contact(row) if row else None


async def contact_by_email(
    conn: AsyncConnection, agent_id: str, address: str
) -> ContactRecord | None:
    query = select(contacts).where(
        contacts.c.agent_id == agent_id, contacts.c.email_key == email_key(address)
    )
    row = (await conn.execute(query)).mappings().first()
    return _contact(row) if row else None


async def is_contact(conn: AsyncConnection, agent_id: str, address: str) -> bool:
    """Whether ``address`` is in the agent's contacts (case-insensitive; no +tag folding)."""
    return await contact_by_email(conn, agent_id, address) is not None


async def insert_contact(conn: AsyncConnection, record: ContactRecord) -> None:
    await conn.execute(
        insert(contacts).values(
            id=record.id,
            agent_id=record.agent_id,
            email=record.email,
            email_key=email_key(record.email),
            name=record.name,
            notes=record.notes,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
    )


async def update_contact(
    conn: AsyncConnection, agent_id: str, id: str, values: dict[str, Any]
) -> bool:
    """Set ``email``/``name``/``notes`` (whichever are given) and ``updated_at``."""
    if "email" in values:
        values = {**values, "email_key": email_key(values["email"])}
    return await _update(conn, contacts, agent_id, id, values)


async def delete_contact(conn: AsyncConnection, agent_id: str, id: str) -> bool:
    return await _delete(conn, contacts, agent_id, id)


async def count_contacts(conn: AsyncConnection, agent_id: str) -> int:
    return await _count(conn, contacts, agent_id)


# -- drafts --------------------------------------------------------------------------------

DRAFT_COLUMNS = {
    "to": "to_addrs",
    "cc": "cc_addrs",
    "bcc": "bcc_addrs",
    "subject": "subject",
    "text": "text_body",
    "html": "html_body",
    "in_reply_to": "in_reply_to",
    "references": "references",
}


async def list_drafts(conn: AsyncConnection, agent_id: str) -> list[DraftRecord]:
    query = (
        select(drafts)
        .where(drafts.c.agent_id == agent_id)
        .order_by(drafts.c.updated_at.desc(), drafts.c.id)
    )
    return [_draft(row) for row in (await conn.execute(query)).mappings()]


async def get_draft(conn: AsyncConnection, agent_id: str, id: str) -> DraftRecord | None:
    row = await _one(conn, drafts, agent_id, id)
    return _draft(row) if row else None


async def insert_draft(
    conn: AsyncConnection, *, id: str, agent_id: str, fields: dict[str, Any], now: datetime
) -> None:
    """``fields`` uses the record's names (to, cc, subject, text, ...)."""
    values = {DRAFT_COLUMNS[key]: value for key, value in fields.items()}
    values.setdefault("references", [])
    await conn.execute(
        insert(drafts).values(id=id, agent_id=agent_id, created_at=now, updated_at=now, **values)
    )


async def update_draft(
    conn: AsyncConnection, agent_id: str, id: str, fields: dict[str, Any], now: datetime
) -> bool:
    values = {DRAFT_COLUMNS[key]: value for key, value in fields.items()}
    return await _update(conn, drafts, agent_id, id, {**values, "updated_at": now})


async def delete_draft(conn: AsyncConnection, agent_id: str, id: str) -> bool:
    return await _delete(conn, drafts, agent_id, id)


async def count_drafts(conn: AsyncConnection, agent_id: str) -> int:
    return await _count(conn, drafts, agent_id)


# -- signatures ----------------------------------------------------------------------------


async def list_signatures(conn: AsyncConnection, agent_id: str) -> list[SignatureRecord]:
    query = (
        select(signatures)
        .where(signatures.c.agent_id == agent_id)
        .order_by(signatures.c.is_default.desc(), signatures.c.name)
    )
    return [_signature(row) for row in (await conn.execute(query)).mappings()]


async def get_signature(conn: AsyncConnection, agent_id: str, id: str) -> SignatureRecord | None:
    row = await _one(conn, signatures, agent_id, id)
    return _signature(row) if row else None


async def signature_by_name(
    conn: AsyncConnection, agent_id: str, name: str
) -> SignatureRecord | None:
    query = select(signatures).where(signatures.c.agent_id == agent_id, signatures.c.name == name)
    row = (await conn.execute(query)).mappings().first()
    return _signature(row) if row else None


_DEFAULT_SIGNATURE = select(signatures).where(
    signatures.c.agent_id == bindparam("p_agent"), signatures.c.is_default.is_(True)
)


async def default_signature(conn: AsyncConnection, agent_id: str) -> SignatureRecord | None:
    # Every send asks: the statement is built once.
    row = (await conn.execute(_DEFAULT_SIGNATURE, {"p_agent": agent_id})).mappings().first()
    return _signature(row) if row else None


async def insert_signature(conn: AsyncConnection, record: SignatureRecord) -> None:
    await conn.execute(
        insert(signatures).values(
            id=record.id,
            agent_id=record.agent_id,
            name=record.name,
            text_body=record.text,
            html_body=record.html,
            is_default=record.is_default,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
    )


async def update_signature(
    conn: AsyncConnection, agent_id: str, id: str, values: dict[str, Any]
) -> bool:
    """``values`` in column names: name, text_body, html_body, is_default, updated_at."""
    return await _update(conn, signatures, agent_id, id, values)


async def clear_default_signature(conn: AsyncConnection, agent_id: str) -> None:
    await conn.execute(
        update(signatures)
        .where(signatures.c.agent_id == agent_id, signatures.c.is_default.is_(True))
        .values(is_default=False)
    )


async def delete_signature(conn: AsyncConnection, agent_id: str, id: str) -> bool:
    return await _delete(conn, signatures, agent_id, id)


async def count_signatures(conn: AsyncConnection, agent_id: str) -> int:
    return await _count(conn, signatures, agent_id)


# -- templates -----------------------------------------------------------------------------


async def list_templates(conn: AsyncConnection, agent_id: str) -> list[TemplateRecord]:
    query = select(templates).where(templates.c.agent_id == agent_id).order_by(templates.c.name)
    return [_template(row) for row in (await conn.execute(query)).mappings()]


async def get_template(conn: AsyncConnection, agent_id: str, id: str) -> TemplateRecord | None:
    row = await _one(conn, templates, agent_id, id)
    return _template(row) if row else None


async def template_by_name(
    conn: AsyncConnection, agent_id: str, name: str
) -> TemplateRecord | None:
    query = select(templates).where(templates.c.agent_id == agent_id, templates.c.name == name)
    row = (await conn.execute(query)).mappings().first()
    return _template(row) if row else None


async def insert_template(conn: AsyncConnection, record: TemplateRecord) -> None:
    await conn.execute(
        insert(templates).values(
            id=record.id,
            agent_id=record.agent_id,
            name=record.name,
            subject=record.subject,
            text_body=record.text,
            html_body=record.html,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
    )


async def update_template(
    conn: AsyncConnection, agent_id: str, id: str, values: dict[str, Any]
) -> bool:
    """``values`` in column names: name, subject, text_body, html_body, updated_at."""
    return await _update(conn, templates, agent_id, id, values)


async def delete_template(conn: AsyncConnection, agent_id: str, id: str) -> bool:
    return await _delete(conn, templates, agent_id, id)


async def count_templates(conn: AsyncConnection, agent_id: str) -> int:
    return await _count(conn, templates, agent_id)
