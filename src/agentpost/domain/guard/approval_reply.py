"""Approval by reply: the reply address of an approval request, the owner's decision word,
and what a trusted Authentication-Results header (RFC 8601) says about the reply.

An approval request is answered to ``approvals+TOKEN@DOMAIN``; no agent may be named
``approvals`` (the local part is reserved), so such mail can never land in a mailbox. Pure
logic: the services decide what to do with the answers.
"""

from __future__ import annotations

import enum
import re

APPROVALS_LOCAL = "approvals"
# Agent names that would shadow a system address.
RESERVED_NAMES = frozenset({APPROVALS_LOCAL})
TOKEN_HEX = 40  # 160 bits
_TOKEN = re.compile(rf"[0-9a-f]{{{TOKEN_HEX}}}")
_PREFIX = APPROVALS_LOCAL + "+"
_WORD = re.compile(r"[A-Za-z]+")
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw|fwd?)\s*:\s*)+", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


class Decision(enum.StrEnum):
    approve = "approve"
    reject = "reject"


# Only the two words the request asks for: "yes" or "no" as a reply's first word too often
# starts a sentence that means something else ("No problem, send it").
_WORDS = {"approve": Decision.approve, "reject": Decision.reject}


def reply_address(token: str, domain: str) -> str:
    return f"{_PREFIX}{token}@{domain}"


def is_approval_address(address: str, domain: str) -> bool:
    """``approvals+…@domain``, whatever follows the ``+`` (a bad token is judged later)."""
    local, _, at = address.strip().strip("<>").rpartition("@")
    return at.lower() == domain and local.lower().startswith(_PREFIX)


def token_of(address: str) -> str | None:
    """The token of an approval address, or None when it is not one we could have made."""
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    token = local[len(_PREFIX) :] if local.startswith(_PREFIX) else ""
    return token if _TOKEN.fullmatch(token) else None


def _first_word(line: str) -> str:
    found = _WORD.match(line.strip().lstrip("*_").strip())
    return found.group(0).lower() if found else ""


def _own_lines(text: str) -> list[str]:
    """The reply's own non-empty lines, without quoted lines ('>') and without the
    attribution line ("On … wrote:") that introduces a quote."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    own: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith(">"):
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.startswith(">") and line.endswith(":"):
            continue
        own.append(line)
    return own


def read_decision(text: str, subject: str) -> Decision | None:
    """APPROVE or REJECT (any case) as the first word of the reply's first own line, or
    else as the first word of the subject (after any Re:/Fwd: prefixes)."""
    own = _own_lines(text)
    if own:
        found = _WORDS.get(_first_word(own[0]))
        if found is not None:
            return found
    return _WORDS.get(_first_word(_REPLY_PREFIX.sub("", subject)))


def _results(value: str) -> tuple[str, list[dict[str, str]]]:
    """An Authentication-Results value as (authserv-id, [{method, result, property: value}])."""
    cleaned = _COMMENT.sub(" ", value)
    parts = [part.strip() for part in cleaned.split(";")]
    authserv = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    results: list[dict[str, str]] = []
    for part in parts[1:]:
        item: dict[str, str] = {}
        for word in part.split():
            name, sep, found = word.partition("=")
            if not sep:
                continue
            if not item:
                item = {"method": name.lower(), "result": found.lower()}
            else:
                item[name.lower()] = found.strip('"').lower()
        if item:
            results.append(item)
    return authserv, results


def _aligned(domain: str, owner_domain: str) -> bool:
    # Relaxed alignment (RFC 7489 §3.1): the same domain, or one a subdomain of the other.
    domain = domain.rpartition("@")[2]
    return (
        domain == owner_domain
        or owner_domain.endswith("." + domain)
        or domain.endswith("." + owner_domain)
    )


def _passes(item: dict[str, str], owner_domain: str) -> bool:
    """dmarc=pass for the owner's From domain, or dkim=pass with an aligned signing domain."""
    if item["result"] != "pass":
        return False
    if item["method"] == "dmarc":
        return _aligned(item.get("header.from", owner_domain), owner_domain)
    if item["method"] == "dkim":
        return _aligned(item.get("header.d", item.get("header.i", "")), owner_domain)
    return False


def judge_authentication(
    values: list[str], trusted: frozenset[str], owner_domain: str
) -> str | None:
    """None when the reply may be believed, else why not.

    Only headers whose authserv-id the operator trusts count (anyone can write the others);
    of those, the topmost (added last, by the nearest server). When trusted servers are
    configured, a reply that passed none of them (no such header) is refused too: it did
    not come in through the servers that check senders.
    """
    if not trusted:
        return None
    for value in values:
        authserv, results = _results(value)
        if authserv not in trusted:
            continue
        if any(_passes(item, owner_domain) for item in results):
            return None
        verdicts = [f"{i['method']}={i['result']}" for i in results if i["method"] != "spf"]
        shown = ", ".join(verdicts) or "no DKIM or DMARC result"
        return f"authentication_failed ({authserv}: {shown})"
    return "authentication_missing"
