"""Where an inbound copy lands: the delivery-time decisions for every incoming message.

Every path that puts a message into an agent's mailbox from outside that agent (SMTP, local
delivery of another agent's mail, relay import) goes through here, so filtering happens when
mail is delivered, not when a client happens to read it:

1. ``inspect`` runs once per message, before the write transaction and off the event loop:
   content checks that need no database (spam, phishing and injection scoring).
2. ``place`` runs inside the write transaction, once per recipient agent: the recipient's own
   settings (sender reports, then the agent's rules) choose folder, flags and tags. A score of
   40 or more puts the copy in Spam; a sender the agent reported decides before the score.
3. ``after_store`` runs in the same transaction once the copy exists: the scan row (so reads
   never scan again), then tags.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import normalize
from agentpost.domain.folders import INBOX, SPAM
from agentpost.domain.mime import ParsedMessage
from agentpost.domain.scanning import Match, ScanReport, scan, scan_input
from agentpost.domain.scanning.model import PHISHING
from agentpost.services import rules, tags
from agentpost.services.context import AppContext
from agentpost.services.store import StoredCopy
from agentpost.storage.repositories import scanning as scan_repo

HAM, WARNING, SPAM_VERDICT = "ham", "warning", "spam"


@dataclass(slots=True)
class Inspection:
    """What the content checks found in one message (filled in by the scanning area).

    ``results`` maps a recipient agent id to its verdict (ham, warning, spam), set by
    ``place`` for ``after_store``.
    """

    results: dict[str, Any] = field(default_factory=dict)
    report: ScanReport | None = None
    internal: bool = False
    sender: str = ""
    _stored: dict[str, Any] | None = None

    def stored_report(self) -> dict[str, Any]:
        """The report as stored, serialised once for all the message's copies."""
        if self._stored is None:
            self._stored = (self.report or ScanReport()).to_dict()
        return self._stored


@dataclass(frozen=True, slots=True)
class Placement:
    """One recipient's copy: its folder, whether it starts seen, and its tags."""

    folder: str = INBOX
    seen: bool = False
    tags: tuple[str, ...] = ()


def inspect(raw: bytes, parsed: ParsedMessage, *, internal: bool = False) -> Inspection:
    """Content checks on one message. CPU-bound: call it in a thread.

    ``internal`` is true only for mail this server built for one of its own authenticated
    agents (services/outbox.py); anything that arrived over SMTP is external, whatever its
    From header says.
    """
    report = scan(scan_input(raw, parsed, internal=internal))
    return Inspection(report=report, internal=internal, sender=normalize(parsed.from_addr.address))


async def place(
    ctx: AppContext,
    conn: AsyncConnection,
    agent_id: str,
    parsed: ParsedMessage,
    inspection: Inspection,
) -> Placement:
    """The copy for ``agent_id``: spam verdict first, then the agent's rules."""
    verdict = await _verdict(ctx, conn, agent_id, inspection)
    inspection.results[agent_id] = verdict
    placement = Placement(folder=SPAM if verdict == SPAM_VERDICT else INBOX)
    return await rules.apply_rules(ctx, conn, agent_id, parsed, placement)


async def _verdict(
    ctx: AppContext, conn: AsyncConnection, agent_id: str, inspection: Inspection
) -> str:
    report = inspection.report
    if report is None:
        return HAM
    if not inspection.internal and inspection.sender.endswith("@" + ctx.settings.domain):
        # Our own domain, but not handed over by this server: a forged local sender.
        report.add(Match("ph_forged_local_sender", PHISHING, 30, "forges this server's domain"))
    reported = (await sender_verdicts(ctx, conn, agent_id)).get(inspection.sender)
    if reported is not None:  # the agent's own word beats the score
        return reported
    if report.is_spam:
        return SPAM_VERDICT
    return WARNING if report.is_warning else HAM


async def after_store(
    ctx: AppContext,
    conn: AsyncConnection,
    copy: StoredCopy,
    placement: Placement,
    inspection: Inspection,
) -> None:
    """Records that need the stored copy's row id (tags, scan results)."""
    await after_store_many(ctx, conn, [(copy, placement, inspection)])


async def after_store_many(
    ctx: AppContext,
    conn: AsyncConnection,
    stored: Sequence[tuple[StoredCopy, Placement, Inspection]],
) -> None:
    """``after_store`` for a group of copies: their scan rows in one statement."""
    await scan_repo.insert_scans(
        conn,
        [
            {
                "message_row_id": copy.row_id,
                "agent_id": copy.agent_id,
                "score": inspection.report.score,
                "verdict": inspection.results.get(copy.agent_id, HAM),
                "internal": inspection.internal,
                "report": inspection.stored_report(),
            }
            for copy, _, inspection in stored
            if inspection.report is not None
        ],
    )
    for copy, placement, _ in stored:
        await tags.tag_copy(ctx, conn, copy, list(placement.tags))


# Sender reports are rare and read on every delivery: each process keeps an agent's reports
# for a second (like inbox.RecipientCache), so a flood costs one query per agent a second. A
# report made in this process is seen at once; one made in another, within a second.
_VERDICT_TTL = 1.0
_MAX_CACHED = 10_000
_verdict_cache: dict[tuple[int, str], tuple[float, dict[str, str]]] = {}


async def sender_verdicts(ctx: AppContext, conn: AsyncConnection, agent_id: str) -> dict[str, str]:
    key = (id(ctx.db), agent_id)
    now = time.monotonic()
    entry = _verdict_cache.get(key)
    if entry is None or entry[0] < now:
        if len(_verdict_cache) >= _MAX_CACHED:
            _verdict_cache.clear()
        entry = (now + _VERDICT_TTL, await scan_repo.sender_verdicts(conn, agent_id))
        _verdict_cache[key] = entry
    return entry[1]


def forget_sender_verdicts(ctx: AppContext, agent_id: str) -> None:
    _verdict_cache.pop((id(ctx.db), agent_id), None)
