"""The outbound guard's rules, as data: what an agent must not send, and how bad it is.

Families: PII (pii_rules.py), credentials, system internals and owner privacy
(secret_rules.py), attachment risk (attachments.py). ``scan_parts`` runs them all over a
message's subject, bodies and attachments; ``policy`` turns findings and recipient classes
into an action. Pure logic: no I/O, nothing imported from outside ``domain``.
"""

from __future__ import annotations

from agentpost.domain.guard.attachments import ATTACHMENT_RULES
from agentpost.domain.guard.model import Family, Finding, Severity, TextRule
from agentpost.domain.guard.scanner import TEXT_RULES, AttachmentText, html_as_text, scan_parts

__all__ = [
    "ATTACHMENT_RULES",
    "TEXT_RULES",
    "AttachmentText",
    "Family",
    "Finding",
    "Severity",
    "TextRule",
    "html_as_text",
    "scan_parts",
]
