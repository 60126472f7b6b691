"""The trust section of read_email: the message's trust envelope as lines an agent reads
before the body (who sent it and how sure we are, spam and injection scores, what the
sanitizer removed, phishing alerts, risky attachments, automated-mail signs)."""

from __future__ import annotations

from agentpost.client.models import RuleMatch, Security


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _rules(matches: list[RuleMatch]) -> str:
    return ", ".join(f"{m.rule_id} (+{m.score})" for m in matches)


def sender_line(security: Security) -> str:
    if security.internal:
        who = "an agent of this server (authenticated by AgentPost)"
    elif security.authenticated is True:
        who = "authenticated"
    elif security.authenticated is False:
        who = "NOT authenticated: an authentication check FAILED (possible forgery)"
    else:
        who = "unverified (no SPF/DKIM/DMARC results)"
    auth = security.auth
    checks = [
        f"{name} {value}"
        for name, value in (("SPF", auth.spf), ("DKIM", auth.dkim), ("DMARC", auth.dmarc))
        if value
    ]
    detail = f" ({', '.join(checks)})" if checks else ""
    contact = "FIRST CONTACT: you never wrote to this sender" if security.first_contact else "known"
    return f"Sender: {who}{detail} | {contact}"


def security_lines(security: Security | None) -> list[str]:
    if security is None:
        return []
    lines = ["--- Trust ---", sender_line(security)]
    category = f", mostly {security.top_category}" if security.top_category else ""
    if security.is_spam or security.is_warning:
        label = "[SPAM]" if security.is_spam else "[WARNING]"
        lines.append(
            f"{label} spam score {security.spam_score}{category}: {_rules(security.matches)}"
        )
    else:
        lines.append(f"Spam score {security.spam_score} (spam at 40, warning at 20)")
    if security.injection:
        lines.append(
            f"[INJECTION] score {security.injection_score}: "
            + "; ".join(_one_line(m.description) for m in security.injection)
        )
    if security.sanitized:
        removed = ", ".join(
            f"{_one_line(d.description)} ({d.count})" for d in security.sanitize_detections
        )
        lines.append(f"[SANITIZED] {removed}")
    lines += [f"  [!] {m.rule_id}: {_one_line(m.description)}" for m in security.phishing]
    lines += [
        f'  [{a.level}] "{_one_line(a.filename)}": {_one_line(a.reason)}'
        for a in security.attachment_risks
    ]
    if security.automated:
        lines.append(
            "[AUTOMATED] "
            + ", ".join(security.automated)
            + ": machine-sent mail; do not reply to it automatically"
        )
    return lines
