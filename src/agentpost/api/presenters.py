"""Turning service results into the public shapes of docs/api.md.

Flags are derived here, in one place: ``\\Seen`` comes from the record's ``seen`` column and the
other flags from its flag list (RFC 3501 §2.3.2 system flags and keywords).
"""

from __future__ import annotations

from typing import Any

from agentpost.api.schemas import (
    AddressPublic,
    AgentCreatedPublic,
    AgentPublic,
    AttachmentPublic,
    AttachmentRiskPublic,
    AuthResultsPublic,
    DeliveryPublic,
    DigestItemPublic,
    DirectoryEntryPublic,
    FindingPublic,
    MessagePublic,
    PagePublic,
    RecipientPublic,
    RuleMatchPublic,
    SanitizeDetectionPublic,
    SecurityPublic,
    SendResultPublic,
    SummaryPublic,
)
from agentpost.domain.scanning import Match
from agentpost.services.mailbox import MessageView, Page
from agentpost.services.outbox import SendResult
from agentpost.services.trust import TrustEnvelope
from agentpost.storage.records import AgentRecord, DeliveryRecord, MessageRecord

SEEN = "\\Seen"


def flags_of(record: MessageRecord) -> list[str]:
    rest = [flag for flag in record.flags if flag != SEEN]
    return [SEEN, *rest] if record.seen else rest


def address_of(item: dict[str, Any]) -> AddressPublic:
    return AddressPublic(name=str(item.get("name") or ""), address=str(item.get("address") or ""))


def addresses_of(items: list[dict[str, Any]]) -> list[AddressPublic]:
    return [address_of(item) for item in items]


def summary_of(record: MessageRecord) -> SummaryPublic:
    return SummaryPublic(**_summary_fields(record))


def _summary_fields(record: MessageRecord) -> dict[str, Any]:
    return {
        "uid": record.uid,
        "folder": record.folder,
        "message_id": record.message_id,
        "thread_id": record.thread_id,
        "subject": record.subject,
        "from_": AddressPublic(name=record.from_name, address=record.from_addr),
        "to": addresses_of(record.to_addrs),
        "cc": addresses_of(record.cc_addrs),
        "date": record.date,
        "received_at": record.received_at,
        "flags": flags_of(record),
        "seen": record.seen,
        "size": record.size,
        "has_attachments": bool(record.attachments),
        "preview": record.preview,
    }


def delivery_of(item: DeliveryRecord) -> DeliveryPublic:
    return DeliveryPublic(
        recipient=item.recipient,
        kind=item.kind,
        status=item.status,
        attempts=item.attempts,
        last_error=item.last_error,
        updated_at=item.updated_at,
        last_code=item.last_code,
        next_attempt_at=item.next_attempt_at,
        deadline_at=item.deadline_at,
        delivered_at=item.delivered_at,
    )


def message_of(view: MessageView) -> MessagePublic:
    record, parsed = view.record, view.parsed
    attachments = [
        AttachmentPublic(
            index=index, filename=att.filename, content_type=att.content_type, size=att.size
        )
        for index, att in enumerate(parsed.attachments)
    ]
    return MessagePublic(
        **_summary_fields(record),
        in_reply_to=record.in_reply_to,
        references=record.references,
        reply_to=addresses_of(record.reply_to),
        text=parsed.text,
        html=parsed.html,
        attachments=attachments,
        deliveries=[delivery_of(item) for item in view.deliveries],
        security=security_of(view.trust) if view.trust is not None else None,
    )


def rule_matches_of(matches: list[Match]) -> list[RuleMatchPublic]:
    return [RuleMatchPublic(**m.to_dict()) for m in matches]


def security_of(trust: TrustEnvelope) -> SecurityPublic:
    report = trust.report
    return SecurityPublic(
        internal=trust.internal,
        authenticated=trust.authenticated,
        auth=AuthResultsPublic(**trust.auth.to_dict()),
        first_contact=trust.first_contact,
        spam_score=report.score,
        is_spam=trust.verdict == "spam",
        is_warning=trust.verdict == "warning",
        verdict=trust.verdict,
        top_category=report.top_category,
        matches=rule_matches_of(report.matches),
        injection_score=report.injection_score,
        injection=rule_matches_of(trust.injection),
        phishing=rule_matches_of(report.phishing),
        attachment_risks=[AttachmentRiskPublic(**a.to_dict()) for a in trust.attachments],
        automated=report.automated,
        sanitized=trust.sanitized,
        sanitize_detections=[SanitizeDetectionPublic(**d.to_dict()) for d in trust.detections],
        fence=trust.fence,
    )


def scored_summary_of(record: MessageRecord, score: tuple[int, str] | None) -> SummaryPublic:
    """A summary with the delivery-time spam score and verdict, when the copy was scanned."""
    summary = summary_of(record)
    if score is not None:
        summary.spam_score, summary.spam_verdict = score
    return summary


def page_of(page: Page) -> PagePublic:
    return PagePublic(
        messages=[scored_summary_of(r, page.scores.get(r.id)) for r in page.messages],
        count=len(page.messages),
        total=page.total,
        folder=page.folder,
    )


def digest_item_of(record: MessageRecord, preview_length: int) -> DigestItemPublic:
    return DigestItemPublic(
        uid=record.uid,
        subject=record.subject,
        from_=AddressPublic(name=record.from_name, address=record.from_addr),
        to=addresses_of(record.to_addrs),
        date=record.date,
        flags=flags_of(record),
        seen=record.seen,
        size=record.size,
        preview=record.preview[:preview_length],
    )


def agent_of(record: AgentRecord) -> AgentPublic:
    return AgentPublic(**_agent_fields(record))


def created_agent_of(record: AgentRecord, api_key: str) -> AgentCreatedPublic:
    return AgentCreatedPublic(**_agent_fields(record), api_key=api_key)


def _agent_fields(record: AgentRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "email": record.address,
        "role": record.role,
        "metadata": record.metadata,
        "persistent": record.persistent,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "last_activity_at": record.last_activity_at,
    }


def directory_entry_of(record: AgentRecord) -> DirectoryEntryPublic:
    return DirectoryEntryPublic(name=record.name, email=record.address, role=record.role)


def send_result_of(result: SendResult) -> SendResultPublic:
    return SendResultPublic(
        message_id=result.message_id,
        uid=result.uid,
        folder=result.folder,
        status=result.status,
        recipients=[
            RecipientPublic(address=r.address, kind=r.kind, status=r.status, error=r.error)
            for r in result.recipients
        ],
        note=result.note,
        warnings=[FindingPublic(**f.to_dict()) for f in result.warnings] or None,
        pending_id=result.held.pending_id if result.held else None,
        expires_at=result.held.expires_at if result.held else None,
        remind_at=result.held.remind_at if result.held else None,
    )
