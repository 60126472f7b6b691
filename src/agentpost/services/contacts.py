"""An agent's address book: add (or refresh) a contact, list, update and delete.

One contact per address (compared case-insensitively): adding a known address updates its
name and notes and keeps its id, rather than creating a second row. ``is_contact`` is what
the outbound guard asks when it classifies recipients.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import AddressError, parse_address_list
from agentpost.errors import ContactNotFound, InvalidInput
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import content as repo
from agentpost.storage.repositories.content import ContactRecord

MAX_CONTACTS = 10_000
MAX_NAME = 200
MAX_NOTES = 2_000


@dataclass(frozen=True, slots=True)
class ContactChange:
    """Fields of an update; ``None`` leaves a field as it is, ``""`` clears name or notes."""

    email: str | None = None
    name: str | None = None
    notes: str | None = None


def check_email(value: str, field: str = "email") -> str:
    """One bare, valid address (a display name in ``"Ann <a@x>"`` is dropped)."""
    try:
        found = parse_address_list(value, field=field)
    except AddressError as exc:
        raise InvalidInput(str(exc), field=field) from exc
    if len(found) != 1:
        raise InvalidInput(f"{field} must be exactly one email address", field=field)
    return found[0].address


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return value or None


async def list_contacts(ctx: AppContext, agent: AgentRecord) -> list[ContactRecord]:
    async with ctx.db.read() as conn:
        return await repo.list_contacts(conn, agent.id)


async def add_contact(
    ctx: AppContext,
    agent: AgentRecord,
    email: str,
    name: str | None = None,
    notes: str | None = None,
) -> tuple[ContactRecord, bool]:
    """Add a contact, or update the one with this address; returns it and whether it is new."""
    address = check_email(email)
    name, notes = _text(name, "name", MAX_NAME), _text(notes, "notes", MAX_NOTES)
    now = now_utc()
    async with ctx.db.write() as conn:
        existing = await repo.contact_by_email(conn, agent.id, address)
        if existing is not None:
            values = {"email": address, "updated_at": now}
            values |= {k: v for k, v in (("name", name), ("notes", notes)) if v is not None}
            await repo.update_contact(conn, agent.id, existing.id, values)
            return await _reload(conn, agent, existing.id), False
        if await repo.count_contacts(conn, agent.id) >= MAX_CONTACTS:
            raise InvalidInput(
                f"at most {MAX_CONTACTS} contacts per agent; delete some first",
                code="limit_reached",
            )
        record = ContactRecord(str(uuid.uuid4()), agent.id, address, name, notes, now, now)
        await repo.insert_contact(conn, record)
        return record, True


async def update_contact(
    ctx: AppContext, agent: AgentRecord, contact_id: str, change: ContactChange
) -> ContactRecord:
    values: dict[str, object] = {"updated_at": now_utc()}
    if change.email is not None:
        values["email"] = check_email(change.email)
    if change.name is not None:
        values["name"] = _text(change.name, "name", MAX_NAME)
    if change.notes is not None:
        values["notes"] = _text(change.notes, "notes", MAX_NOTES)
    async with ctx.db.write() as conn:
        if "email" in values:
            clash = await repo.contact_by_email(conn, agent.id, str(values["email"]))
            if clash is not None and clash.id != contact_id:
                raise InvalidInput(
                    f"{values['email']} is already contact {clash.id}", field="email"
                )
        if not await repo.update_contact(conn, agent.id, contact_id, values):
            raise _not_found(contact_id)
        return await _reload(conn, agent, contact_id)


async def delete_contact(ctx: AppContext, agent: AgentRecord, contact_id: str) -> None:
    async with ctx.db.write() as conn:
        if not await repo.delete_contact(conn, agent.id, contact_id):
            raise _not_found(contact_id)


async def is_contact(ctx: AppContext, agent: AgentRecord, address: str) -> bool:
    """Whether ``address`` is one of the agent's contacts (inside a transaction, use
    ``storage.repositories.content.is_contact(conn, agent_id, address)``)."""
    async with ctx.db.read() as conn:
        return await repo.is_contact(conn, agent.id, address)


async def _reload(conn: AsyncConnection, agent: AgentRecord, contact_id: str) -> ContactRecord:
    record = await repo.get_contact(conn, agent.id, contact_id)
    if record is None:
        raise _not_found(contact_id)
    return record


def _not_found(contact_id: str) -> ContactNotFound:
    return ContactNotFound(
        f"no contact with id {contact_id}; manage_contacts list shows yours", field="id"
    )
