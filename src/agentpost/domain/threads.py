"""Reply and forward composition: subjects, threading headers and quoted bodies.

RFC 5322 §3.6.4: a reply's In-Reply-To is the parent's Message-ID and its References are the
parent's References (or In-Reply-To when it has none) followed by the parent's Message-ID.
"""

from __future__ import annotations

import re
from datetime import datetime

_RE_PREFIX = re.compile(r"^\s*((re|aw|sv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_FWD_PREFIX = re.compile(r"^\s*((fwd?|wg)\s*:\s*)+", re.IGNORECASE)
MAX_REFERENCES = 50  # keep headers bounded on very long threads


def reply_subject(subject: str) -> str:
    """``Re: `` once, however many Re:/RE:/Aw: the original already carried."""
    base = _RE_PREFIX.sub("", subject or "").strip()
    return f"Re: {base}" if base else "Re:"


def forward_subject(subject: str) -> str:
    base = _FWD_PREFIX.sub("", subject or "").strip()
    return f"Fwd: {base}" if base else "Fwd:"


def reply_references(
    parent_id: str, parent_refs: list[str], parent_in_reply_to: str | None
) -> list[str]:
    chain = list(parent_refs) or ([parent_in_reply_to] if parent_in_reply_to else [])
    if parent_id and parent_id not in chain:
        chain.append(parent_id)
    if len(chain) > MAX_REFERENCES:
        # Keep the thread root and the most recent ids (RFC 5322 §3.6.4 allows trimming).
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain


def quote_reply(text: str, original_text: str, original_from: str, original_date: datetime) -> str:
    quoted = "\n".join(f"> {line}" if line else ">" for line in original_text.splitlines())
    header = f"On {original_date.isoformat()}, {original_from} wrote:"
    return f"{text}\n\n{header}\n{quoted}\n" if quoted else f"{text}\n"


def forward_body(
    note: str,
    *,
    original_from: str,
    original_to: str,
    original_date: datetime,
    subject: str,
    text: str,
) -> str:
    block = (
        "---------- Forwarded message ----------\n"
        f"From: {original_from}\nTo: {original_to}\nDate: {original_date.isoformat()}\n"
        f"Subject: {subject}\n\n{text}"
    )
    return f"{note}\n\n{block}" if note else block
