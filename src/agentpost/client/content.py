"""Client calls for contacts, drafts, signatures, templates and scheduled sends
(docs/api/content.md), mixed into ``AgentPostClient``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from agentpost.client.base import ClientBase, compact, segment
from agentpost.client.models import Model, SendResult

Recipients = str | Sequence[str]


class Contact(Model):
    id: str
    email: str
    name: str | None = None
    notes: str | None = None
    created: bool | None = None


class Draft(Model):
    id: str
    to: str | None = None
    cc: str | None = None
    bcc: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    updated_at: datetime | None = None


class Signature(Model):
    id: str
    name: str
    text: str = ""
    html: str | None = None
    is_default: bool = False


class Template(Model):
    id: str
    name: str
    subject: str = ""
    text: str = ""
    html: str | None = None
    variables: list[str] = []


class Scheduled(Model):
    id: str
    to: str
    subject: str = ""
    send_at: datetime
    send_at_local: str = ""
    timezone: str = "UTC"
    status: str
    message_id: str | None = None
    error: str | None = None


def _recipients(value: Recipients | None) -> str | list[str] | None:
    return value if value is None or isinstance(value, str) else list(value)


class ContentCalls(ClientBase):
    """Contacts, drafts, signatures, templates and scheduled sends of the key's agent."""

    # -- contacts ---------------------------------------------------------------------------

    async def contacts(self) -> list[Contact]:
        data = await self._json("GET", "/contacts")
        return [Contact.model_validate(item) for item in data["contacts"]]

    async def add_contact(
        self, email: str, *, name: str | None = None, notes: str | None = None
    ) -> Contact:
        body = compact({"email": email, "name": name, "notes": notes})
        return Contact.model_validate(await self._json("POST", "/contacts", json_body=body))

    async def update_contact(
        self,
        contact_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        notes: str | None = None,
    ) -> Contact:
        body = compact({"email": email, "name": name, "notes": notes})
        path = f"/contacts/{segment(contact_id)}"
        return Contact.model_validate(await self._json("PATCH", path, json_body=body))

    async def delete_contact(self, contact_id: str) -> None:
        await self._json("DELETE", f"/contacts/{segment(contact_id)}")

    # -- drafts -----------------------------------------------------------------------------

    async def drafts(self) -> list[Draft]:
        data = await self._json("GET", "/drafts")
        return [Draft.model_validate(item) for item in data["drafts"]]

    async def draft(self, draft_id: str) -> Draft:
        return Draft.model_validate(await self._json("GET", f"/drafts/{segment(draft_id)}"))

    async def create_draft(self, **fields: Any) -> Draft:
        """Fields: to, cc, bcc, subject, text, html, inReplyTo, references (all optional)."""
        body = compact(fields)
        return Draft.model_validate(await self._json("POST", "/drafts", json_body=body))

    async def update_draft(self, draft_id: str, **fields: Any) -> Draft:
        """Fields given replace the draft's; omitted (or None) ones stay as they are."""
        path = f"/drafts/{segment(draft_id)}"
        return Draft.model_validate(await self._json("PUT", path, json_body=compact(fields)))

    async def delete_draft(self, draft_id: str) -> None:
        await self._json("DELETE", f"/drafts/{segment(draft_id)}")

    async def send_draft(self, draft_id: str, *, signature: bool | None = None) -> SendResult:
        path = f"/drafts/{segment(draft_id)}/send"
        body = compact({"signature": signature})
        return SendResult.model_validate(await self._json("POST", path, json_body=body))

    # -- signatures -------------------------------------------------------------------------

    async def signatures(self) -> list[Signature]:
        data = await self._json("GET", "/signatures")
        return [Signature.model_validate(item) for item in data["signatures"]]

    async def create_signature(
        self, name: str, text: str, *, html: str | None = None, is_default: bool | None = None
    ) -> Signature:
        body = compact({"name": name, "text": text, "html": html, "isDefault": is_default})
        return Signature.model_validate(await self._json("POST", "/signatures", json_body=body))

    async def update_signature(self, signature_id: str, **fields: Any) -> Signature:
        """Fields: name, text, html, isDefault."""
        path = f"/signatures/{segment(signature_id)}"
        return Signature.model_validate(await self._json("PATCH", path, json_body=compact(fields)))

    async def delete_signature(self, signature_id: str) -> None:
        await self._json("DELETE", f"/signatures/{segment(signature_id)}")

    # -- templates --------------------------------------------------------------------------

    async def templates(self) -> list[Template]:
        data = await self._json("GET", "/templates")
        return [Template.model_validate(item) for item in data["templates"]]

    async def template(self, template_id: str) -> Template:
        path = f"/templates/{segment(template_id)}"
        return Template.model_validate(await self._json("GET", path))

    async def create_template(
        self, name: str, subject: str, text: str, *, html: str | None = None
    ) -> Template:
        body = compact({"name": name, "subject": subject, "text": text, "html": html})
        return Template.model_validate(await self._json("POST", "/templates", json_body=body))

    async def update_template(self, template_id: str, **fields: Any) -> Template:
        """Fields: name, subject, text, html."""
        path = f"/templates/{segment(template_id)}"
        return Template.model_validate(await self._json("PATCH", path, json_body=compact(fields)))

    async def delete_template(self, template_id: str) -> None:
        await self._json("DELETE", f"/templates/{segment(template_id)}")

    async def send_template(
        self,
        template_id: str,
        to: Recipients,
        *,
        variables: Mapping[str, Any] | None = None,
        cc: Recipients | None = None,
        bcc: Recipients | None = None,
        signature: bool | None = None,
    ) -> SendResult:
        body = compact(
            {"to": _recipients(to), "cc": _recipients(cc), "bcc": _recipients(bcc)}
            | {"variables": dict(variables) if variables is not None else None}
            | {"signature": signature}
        )
        path = f"/templates/{segment(template_id)}/send"
        return SendResult.model_validate(await self._json("POST", path, json_body=body))

    # -- scheduled sends --------------------------------------------------------------------

    async def scheduled(self, *, status: str | None = None) -> list[Scheduled]:
        data = await self._json("GET", "/scheduled", params={"status": status})
        return [Scheduled.model_validate(item) for item in data["scheduled"]]

    async def get_scheduled(self, scheduled_id: str) -> Scheduled:
        path = f"/scheduled/{segment(scheduled_id)}"
        return Scheduled.model_validate(await self._json("GET", path))

    async def schedule(
        self,
        to: Recipients,
        subject: str,
        send_at: str,
        *,
        text: str | None = None,
        html: str | None = None,
        cc: Recipients | None = None,
        bcc: Recipients | None = None,
        signature: bool | None = None,
    ) -> Scheduled:
        body = compact(
            {"to": _recipients(to), "subject": subject, "sendAt": send_at, "text": text}
            | {"html": html, "cc": _recipients(cc), "bcc": _recipients(bcc)}
            | {"signature": signature}
        )
        return Scheduled.model_validate(await self._json("POST", "/scheduled", json_body=body))

    async def cancel_scheduled(self, scheduled_id: str) -> None:
        await self._json("DELETE", f"/scheduled/{segment(scheduled_id)}")
