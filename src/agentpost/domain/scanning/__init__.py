"""Inbound content scanning: spam, phishing and prompt-injection rules, the sanitizer,
attachment risk, authentication results and automated-mail signs. Pure and linear-time."""

from agentpost.domain.scanning.model import (
    SPAM_THRESHOLD,
    WARNING_THRESHOLD,
    AttachmentRisk,
    AuthResults,
    Detection,
    Match,
    ScanReport,
)
from agentpost.domain.scanning.sanitize import Sanitized, sanitize
from agentpost.domain.scanning.scan import ScanInput, scan, scan_input

__all__ = [
    "SPAM_THRESHOLD",
    "WARNING_THRESHOLD",
    "AttachmentRisk",
    "AuthResults",
    "Detection",
    "Match",
    "Sanitized",
    "ScanInput",
    "ScanReport",
    "sanitize",
    "scan",
    "scan_input",
]
