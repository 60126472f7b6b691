"""One pass over a message: every rule family, summed into a ``ScanReport``.

``scan_input`` gathers what the rules look at from the raw bytes and the parsed view;
``scan`` runs the families: content rules (injection, social engineering, exfiltration,
commercial spam), phishing, authentication, attachments, header anomalies and link counts,
then the rules that combine signals no single family can weigh alone:

- ``cs_cold_pitch``: a commercial category (pharmacy, crypto, weight loss, search ranking,
  prizes, gambling, easy credit, counterfeits, or a dense run of sales phrases) with a call
  to action, from a sender that is neither authenticated nor answering a conversation. Each
  signal alone is common in wanted mail (an order confirmation, a newsletter, a colleague's
  reply); together they are the shape of unsolicited bulk mail.
- ``ph_html_attachment_lure``: an HTML file sent as a document by a sender that impersonates
  a brand (a carrier, a bank), or by an unauthenticated one that tells the reader to open it.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field

from agentpost.domain.mime import ParsedMessage
from agentpost.domain.scanning import headers as hdr
from agentpost.domain.scanning import links, phishing, rules
from agentpost.domain.scanning.attachments import attachment_risks, is_html
from agentpost.domain.scanning.model import (
    ATTACHMENT_RISK,
    AUTHENTICATION,
    CONTENT_SPAM,
    HEADER_ANOMALY,
    LINK_ANALYSIS,
    PHISHING,
    PROMPT_INJECTION,
    SOCIAL_ENGINEERING,
    Match,
    ScanReport,
)
from agentpost.domain.scanning.sanitize import sanitize

MAX_SCANNED_CHARS = 1_000_000  # rules see the first million characters of text and HTML
# A disguised executable is malicious by construction: it alone makes a message spam.
_ATTACHMENT_SCORES = {"CRITICAL": 40, "HIGH": 20, "MEDIUM": 10}


# Rules that put a message in a commercial category (the cold-pitch combination's first leg).
COMMERCIAL_RULES = frozenset(
    {"cs_lottery_scam", "cs_crypto_scam", "cs_pharmacy_spam", "cs_weight_loss", "cs_seo_spam"}
    | {"cs_gambling", "cs_loan_spam", "cs_replica", "cs_spam_word_density"}
)
IMPERSONATION_RULES = frozenset({"ph_spoofed_sender", "ph_homograph", "ph_display_address"})


# ``[^<>]`` (not ``[^>]``): a run of "<" with no ">" must not make every "<" scan to the end.
_TAG = re.compile(r"<[^<>]*>")


def visible_text(html: str) -> str:
    """HTML as the rules read it: tags dropped, entities decoded. Linear in the input."""
    return html_lib.unescape(_TAG.sub(" ", html))


@dataclass(slots=True)
class ScanInput:
    subject: str
    text: str
    html: str
    from_name: str
    from_address: str
    reply_to: list[str] = field(default_factory=list)
    message_id: str = ""
    attachment_names: list[str] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)
    internal: bool = False  # handed over by this server for one of its own agents


def scan_input(raw: bytes, parsed: ParsedMessage, *, internal: bool = False) -> ScanInput:
    return ScanInput(
        subject=parsed.subject,
        text=parsed.text[:MAX_SCANNED_CHARS],
        html=parsed.html[:MAX_SCANNED_CHARS],
        from_name=parsed.from_addr.name,
        from_address=parsed.from_addr.address,
        reply_to=[a.address for a in parsed.reply_to],
        message_id=parsed.message_id,
        attachment_names=[a.filename for a in parsed.attachments],
        fields=hdr.header_fields(raw),
        internal=internal,
    )


def scan(item: ScanInput) -> ScanReport:
    report = ScanReport()
    cleaned = sanitize(item.text, item.html)
    report.detections = cleaned.detections
    html_text = visible_text(cleaned.html) if cleaned.html else ""
    content = " ".join(
        f"{item.subject}\n{cleaned.text}\n{html_text}\n{cleaned.hidden_text}".lower().split()
    )
    tokens = rules.tokens_of(content)
    for match in rules.content_matches(content, tokens):
        report.add(match)
    _injection_extras(report, item, cleaned.hidden_text)
    _phishing(report, item, content, tokens)
    _authentication(report, item)
    _attachments(report, item)
    _anomalies(report, item, content, tokens)
    _combinations(report, item, content, tokens)
    report.automated = hdr.automated_signs(item.fields, item.from_address)
    return report


def _injection_extras(report: ScanReport, item: ScanInput, hidden: str) -> None:
    kinds = {d.kind for d in report.detections}
    if any(k.startswith("invisible_tags") for k in kinds) or any(
        d.kind.startswith("zero_width") and d.count >= 3 for d in report.detections
    ):
        report.add(Match("pi_invisible_unicode", PROMPT_INJECTION, 20, "hidden Unicode text"))
    if hidden.strip() and ("hidden_html" in kinds or "suspicious_comment" in kinds):
        report.add(Match("pi_hidden_html", PROMPT_INJECTION, 15, "text hidden from people"))
    if max(map(len, item.text.split()), default=0) >= 120 and rules.BASE64_RUN.search(item.text):
        report.add(Match("pi_base64_injection", PROMPT_INJECTION, 10, "a long encoded blob"))


def _phishing(report: ScanReport, item: ScanInput, content: str, tokens: frozenset[str]) -> None:
    anchors = links.anchors(item.html) if item.html else []
    all_urls = links.urls(item.text + "\n" + item.html)
    for match in phishing.sender_matches(item.from_name, item.from_address, item.reply_to):
        report.add(match)
    for match in phishing.link_matches(anchors, all_urls):
        report.add(match)
    if (all_urls or anchors) and "your" in tokens and rules.CREDENTIAL_ASK.search(content):
        report.add(Match("ph_credential_harvest", PHISHING, 15, "asks to verify an account"))
    if not tokens.isdisjoint(("click", "login", "in")) and rules.LOGIN_URGENCY.search(content):
        report.add(Match("ph_login_urgency", PHISHING, 10, "urgent sign-in request"))
    if rules.urgent_threat(content, tokens):
        report.add(Match("se_urgency_authority", SOCIAL_ENGINEERING, 10, "urgency and threats"))
    if len(all_urls) >= 5 and not item.fields.get("list-unsubscribe"):
        report.add(Match("ph_unsubscribe_missing", PHISHING, 3, "bulk links, no unsubscribe"))
    if len(all_urls) > 10:
        report.add(Match("la_excessive_links", LINK_ANALYSIS, 5, "more than 10 links"))


def _authentication(report: ScanReport, item: ScanInput) -> None:
    report.auth = hdr.auth_results(item.fields)
    if item.internal:
        return  # this server authenticated the sending agent itself
    auth = report.auth
    if auth.spf in ("fail", "softfail"):
        report.add(Match("auth_spf_fail", AUTHENTICATION, 15, "SPF failed"))
    if auth.dkim == "fail":
        report.add(Match("auth_dkim_fail", AUTHENTICATION, 15, "DKIM signature failed"))
    if auth.dmarc == "fail":
        report.add(Match("auth_dmarc_fail", AUTHENTICATION, 20, "DMARC failed"))
    if not auth.present:
        report.add(Match("auth_no_auth_results", AUTHENTICATION, 3, "no authentication results"))


def _attachments(report: ScanReport, item: ScanInput) -> None:
    report.attachments = attachment_risks(item.attachment_names)
    worst = {r.level for r in report.attachments}
    for level in ("CRITICAL", "HIGH", "MEDIUM"):
        if level in worst:
            rule_id = f"at_{level.lower()}_attachment"
            description = f"{level.lower()}-risk attachment"
            report.add(Match(rule_id, ATTACHMENT_RISK, _ATTACHMENT_SCORES[level], description))
            break


def _anomalies(report: ScanReport, item: ScanInput, content: str, tokens: frozenset[str]) -> None:
    if not item.message_id:
        report.add(Match("ha_missing_message_id", HEADER_ANOMALY, 5, "no Message-ID"))
    if not item.from_address:
        report.add(Match("ha_empty_from", HEADER_ANOMALY, 10, "no sender address"))
    letters = [ch for ch in item.subject if ch.isalpha()]
    upper = sum(ch.isupper() for ch in letters)
    if len(item.subject) >= 10 and len(letters) >= 5 and upper > 0.8 * len(letters):
        report.add(Match("cs_all_caps_subject", CONTENT_SPAM, 5, "subject in capitals"))
    if "!!!" in item.subject or "???" in item.subject:
        report.add(Match("cs_excessive_punctuation", CONTENT_SPAM, 3, "!!! or ??? in subject"))
    if item.html.strip() and not item.text.strip():
        report.add(Match("cs_html_only_no_text", CONTENT_SPAM, 5, "HTML only, no text part"))
    phrases = rules.spam_phrase_count(content, tokens)
    if phrases > 4:
        score = 30 if phrases > 10 else 20 if phrases > 7 else 10
        report.add(Match("cs_spam_word_density", CONTENT_SPAM, score, f"{phrases} spam phrases"))


def _combinations(
    report: ScanReport, item: ScanInput, content: str, tokens: frozenset[str]
) -> None:
    found = {m.rule_id for m in report.matches}
    replying = bool(item.fields.get("in-reply-to") or item.fields.get("references"))
    stranger = not item.internal and not report.auth.passed and not replying
    if stranger and found & COMMERCIAL_RULES and rules.call_to_action(content, tokens):
        description = "a sales pitch with a call to action from an unknown, unverified sender"
        report.add(Match("cs_cold_pitch", CONTENT_SPAM, 15, description))
    if any(is_html(name) for name in item.attachment_names) and (
        found & IMPERSONATION_RULES
        or (not item.internal and not report.auth.passed and rules.OPEN_ATTACHMENT.search(content))
    ):
        description = "an HTML file sent as a document by an impersonated or unverified sender"
        report.add(Match("ph_html_attachment_lure", PHISHING, 15, description))
