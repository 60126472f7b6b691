"""Search and listing latency on one agent's 100,000-message mailbox, SQLite and PostgreSQL.

Fills a fresh database (a SQLite file in a temp dir, or a fresh PostgreSQL database) with
realistic mail for one agent, then times the service calls the API makes:

- ``search_text``: ``services.mailbox.search_messages`` with one text word, limit 50;
- ``search_from``: the same with a ``from`` filter (a sender's name), limit 50;
- ``list_inbox``: ``services.mailbox.list_folder("INBOX", limit=20, offset=0)`` with the total.

Filling is setup, not measured: messages go through ``services.store.store_copies`` (the code
every delivery uses, so the search index is built the production way) in large transactions.

    .venv/bin/python bench/search_latency.py                      # both dialects, 100k messages
    .venv/bin/python bench/search_latency.py --dialect sqlite --messages 20000 --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agentpost.config import Settings
from agentpost.domain.addresses import Address
from agentpost.domain.folders import ARCHIVE, INBOX, SENT
from agentpost.domain.mime import ParsedMessage
from agentpost.services import accounts, mailbox
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext, build_context
from agentpost.services.mailbox import SearchCriteria
from agentpost.services.store import CopySpec, store_copies
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.search import TextCriteria

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGETS_MS = {"search_text": 20.0, "search_from": 20.0, "list_inbox": 5.0}
BATCH = 2_000
SEED = 20_261_122


def _wordlist(text: str) -> list[str]:
    return text.split()


# Function words fill about 45% of a body; content words follow a Zipf law (s=1) over the
# real words below (ranks 1-~330) and a long tail of generated pseudo-words, so a word of rank r
# appears in roughly 1 - exp(-16/r) of all messages, as in a real corpus.
FUNCTION_WORDS = _wordlist(
    """the of and to in is for that on with as it be are this by we from at your have
will or not our can an you all about more please was were has had but if so do"""
)
REAL_WORDS = _wordlist(
    """team thanks update project meeting report week today time new next data review
plan work need call client order account price support service email schedule agenda notes draft
final version budget cost invoice payment contract deadline launch customer product feature
release issue ticket request approval access server deploy build test results numbers quarter
revenue sales marketing design research analysis summary proposal feedback question answer
follow share attached document file link details morning afternoon friday monday tuesday
wednesday thursday office remote travel flight hotel conference workshop training onboarding
hiring candidate interview offer policy security password login backup database migration outage
incident postmortem metrics dashboard alert latency throughput capacity storage network cluster
region vendor partner legal compliance audit privacy consent shipment warehouse inventory
supplier logistics delivery tracking refund discount campaign newsletter webinar survey roadmap
milestone sprint backlog estimate priority blocker dependency handoff rollout rollback hotfix
patch upgrade license renewal subscription trial pricing quote procurement expense reimbursement
payroll benefits holiday vacation lunch dinner coffee birthday celebration kickoff retrospective
standup demo presentation slide spreadsheet forecast target goal objective initiative strategy
vision mission stakeholder sponsor steering committee board investor funding valuation runway
acquisition merger integration api endpoint webhook token schema payload response timeout retry
queue worker scheduler cron job pipeline artifact container kubernetes terraform ansible
monitoring logging tracing profiling benchmark regression flaky coverage lint refactor cleanup
documentation wiki handbook guideline template checklist runbook playbook escalation oncall pager
rotation shift weekend evening overnight urgent important reminder confirm cancel reschedule
postpone available unavailable approved rejected pending blocked resolved closed opened merged
shipped aurora borealis cascade citadel ember falcon glacier harbor indigo juniper kestrel
lantern meridian nimbus obsidian paragon quasar rapids sierra tundra umbra vertex willow xenon
yonder zephyr acme globex initech umbrella stark wayne wonka cyberdyne tyrell soylent hooli
"""
)
_SYLLABLES = _wordlist(
    """ka lo mi ner tav ous bri ent qua dro fen sil mar pet run vo chi lek sa tor bel
gan hu rin cos dal ep fi gor ix jun ko lum nay ost pra qui res sto tru val wex yar zim"""
)
_ENDINGS = ("", "an", "is", "or", "el", "um")
TAIL_WORDS = [a + b + c for c in _ENDINGS for a in _SYLLABLES for b in _SYLLABLES]
CONTENT_WORDS = list(dict.fromkeys(REAL_WORDS + TAIL_WORDS))
# Query words span ranks 100-3,200 (geometric): from ~15% down to ~0.5% of the mailbox.
QUERY_WORDS = [CONTENT_WORDS[int(100 * 1.2**i)] for i in range(20)]
FIRST = _wordlist(
    """alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert
sybil trent victor walter xena yusuf zoe amara bruno chen dmitri elena farid giulia hana"""
)
LAST = _wordlist(
    """smith jones garcia miller davis lopez wilson anderson thomas taylor moore jackson martin
lee perez thompson white harris clark lewis walker young allen king wright scott green"""
)
DOMAINS = [
    "example.com", "example.org", "partner.example", "clients.test", "mail.example.net",
    "vendor.example", "corp.example", "university.example.edu",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Fake:
    """One generated message: its raw bytes and the parsed view store_copies indexes."""

    raw: bytes
    parsed: ParsedMessage
    folder: str
    seen: bool


class Corpus:
    """Deterministic, realistic mail: skewed senders, Zipf-ish words, 1-3 KB bodies."""

    def __init__(self, owner: str, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.owner = owner
        self.cum_weights = list(
            itertools.accumulate(1.0 / (rank + 1) for rank in range(len(CONTENT_WORDS)))
        )
        people = [(f, ln) for f in FIRST for ln in LAST]
        self.rng.shuffle(people)
        self.senders = [
            Address(f"{f}.{ln}@{self.rng.choice(DOMAINS)}", f"{f.title()} {ln.title()}")
            for f, ln in people[:400]
        ]
        self.sender_weights = [1.0 / (i + 1) ** 0.7 for i in range(len(self.senders))]
        self.start = datetime(2024, 1, 1, tzinfo=UTC)

    def words(self, count: int) -> list[str]:
        content = self.rng.choices(CONTENT_WORDS, cum_weights=self.cum_weights, k=count)
        return [
            self.rng.choice(FUNCTION_WORDS) if self.rng.random() < 0.45 else word
            for word in content
        ]

    def body(self) -> str:
        target = self.rng.randint(1024, 3072)
        lines: list[str] = []
        size = 0
        while size < target:
            sentence = " ".join(self.words(self.rng.randint(6, 18))).capitalize() + "."
            lines.append(sentence)
            size += len(sentence) + 1
        return "\n".join(lines)

    def message(self, n: int) -> Fake:
        rng = self.rng
        roll = rng.random()
        folder = INBOX if roll < 0.85 else ARCHIVE if roll < 0.95 else SENT
        peer = rng.choices(self.senders, weights=self.sender_weights)[0]
        owner = Address(self.owner)
        sender, recipient = (owner, peer) if folder == SENT else (peer, owner)
        subject = " ".join(self.words(rng.randint(3, 8))).capitalize()
        if rng.random() < 0.3:
            subject = f"Re: {subject}"
        date = self.start + timedelta(seconds=n * 600 + rng.randint(0, 599))
        body = self.body()
        message_id = f"<bench.{n}@{sender.domain}>"
        raw = (
            f"From: {sender.formatted()}\r\nTo: {recipient.formatted()}\r\nSubject: {subject}\r\n"
            f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\nMessage-ID: {message_id}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{body.replace(chr(10), chr(13) + chr(10))}\r\n"
        ).encode()
        parsed = ParsedMessage(
            message_id=message_id,
            subject=subject,
            from_addr=sender,
            to=[recipient],
            cc=[],
            reply_to=[],
            date=date,
            in_reply_to=None,
            references=[],
            text=body,
            html="",
        )
        return Fake(raw, parsed, folder, seen=folder == SENT or rng.random() < 0.7)


async def fill(ctx: AppContext, agent: AgentRecord, count: int) -> float:
    """Store ``count`` messages for ``agent`` in transactions of BATCH; returns seconds."""
    corpus = Corpus(agent.address)
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        batch = [corpus.message(n) for n in range(first, min(first + BATCH, count))]
        async with ctx.db.write() as conn:
            blob_ids = await message_repo.insert_blobs(conn, [item.raw for item in batch])
            specs = [
                CopySpec(
                    agent_id=agent.id,
                    folder=item.folder,
                    blob_id=blob_id,
                    size=len(item.raw),
                    parsed=item.parsed,
                    received_at=item.parsed.date,
                    seen=item.seen,
                    direction="out" if item.folder == SENT else "in",
                )
                for item, blob_id in zip(batch, blob_ids, strict=True)
            ]
            await store_copies(conn, ctx.db.dialect, specs)
        done = first + len(batch)
        rate = done / (time.perf_counter() - started)
        print(f"\r  stored {done:>7,}/{count:,} ({rate:,.0f} msg/s)", end="", flush=True)
    print()
    return time.perf_counter() - started


async def timed(call: Callable[[int], Awaitable[object]], runs: int) -> list[float]:
    """Milliseconds per call over ``runs`` runs, after a short warm-up."""
    for i in range(min(10, runs)):
        await call(i)
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def measure(ctx: AppContext, agent: AgentRecord, runs: int) -> dict[str, list[float]]:
    senders = FIRST[:20]

    async def search_text(i: int) -> object:
        criteria = SearchCriteria(text=TextCriteria(text=QUERY_WORDS[i % len(QUERY_WORDS)]))
        return await mailbox.search_messages(ctx, agent, criteria, limit=50, offset=0)

    async def search_from(i: int) -> object:
        criteria = SearchCriteria(text=TextCriteria(from_=senders[i % len(senders)]))
        return await mailbox.search_messages(ctx, agent, criteria, limit=50, offset=0)

    async def list_inbox(_i: int) -> object:
        return await mailbox.list_folder(ctx, agent, INBOX, limit=20, offset=0)

    return {
        "search_text": await timed(search_text, runs),
        "search_from": await timed(search_from, runs),
        "list_inbox": await timed(list_inbox, runs),
    }


async def match_counts(ctx: AppContext, agent: AgentRecord) -> tuple[float, float, int]:
    """Median matches of the text and from queries, and the INBOX total, for the report."""
    text_totals, from_totals = [], []
    for word in QUERY_WORDS:
        criteria = SearchCriteria(text=TextCriteria(text=word))
        text_totals.append(
            (await mailbox.search_messages(ctx, agent, criteria, limit=1, offset=0))[1]
        )
    for first in FIRST[:20]:
        criteria = SearchCriteria(text=TextCriteria(from_=first))
        from_totals.append(
            (await mailbox.search_messages(ctx, agent, criteria, limit=1, offset=0))[1]
        )
    inbox = await mailbox.list_folder(ctx, agent, INBOX, limit=1, offset=0)
    return statistics.median(text_totals), statistics.median(from_totals), inbox.total


async def create_database(dialect: str, pg_dsn: str) -> tuple[str, str | None]:
    """A fresh database: its URL and, on PostgreSQL, its name (to drop it afterwards)."""
    if dialect == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="agentpost-bench-"))
        return f"sqlite+aiosqlite:///{directory / 'bench.db'}", None
    name = f"agentpost_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = pg_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


async def drop_database(url: str, pg_name: str | None, pg_dsn: str) -> None:
    if pg_name is None:
        shutil.rmtree(Path(make_url(url).database or "").parent, ignore_errors=True)
        return
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    finally:
        await admin.close()


async def bench_agent(ctx: AppContext, count: int) -> AgentRecord:
    """The agent 'bench', created and filled unless a kept database already has it."""
    async with ctx.db.read() as conn:
        existing = await account_repo.agent_by_name(conn, "bench")
        owner = await account_repo.default_owner(conn)
    if existing is not None:
        print(f"{ctx.db.dialect}: reusing the filled mailbox of a kept database")
        return existing
    assert owner is not None
    agent, _ = await accounts.create_agent(
        ctx, Principal(PrincipalKind.admin, owner.id), name="bench"
    )
    print(f"{ctx.db.dialect}: filling {count:,} messages")
    seconds = await fill(ctx, agent, count)
    print(f"  filled in {seconds:.0f} s")
    if ctx.db.dialect == "postgresql":
        # Steady state after a bulk load: what autovacuum does shortly afterwards.
        async with ctx.db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE"))
    return agent


async def run_dialect(dialect: str, args: argparse.Namespace) -> list[list[str]]:
    url, pg_name = (args.url, None) if args.url else await create_database(dialect, args.pg_dsn)
    data_dir = Path(tempfile.mkdtemp(prefix="agentpost-bench-data-"))
    ctx = await build_context(Settings(data_dir=data_dir, database_url=url))
    try:
        await accounts.ensure_bootstrap(ctx)
        agent = await bench_agent(ctx, args.messages)
        text_hits, from_hits, inbox_total = await match_counts(ctx, agent)
        print(
            f"  INBOX {inbox_total:,} messages; median matches: text {text_hits:,.0f}, "
            f"from {from_hits:,.0f}"
        )
        results = await measure(ctx, agent, args.runs)
    finally:
        await ctx.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.keep or args.url:
            print(f"  kept: --url {url}")
        else:
            await drop_database(url, pg_name, args.pg_dsn)
    rows = []
    for name, samples in results.items():
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        verdict = "ok" if p50 <= TARGETS_MS[name] else "MISSED"
        rows.append([dialect, name, f"{p50:.2f}", f"{p95:.2f}", f"{TARGETS_MS[name]:.0f}", verdict])
    return rows


def print_table(rows: list[list[str]]) -> None:
    header = ["dialect", "benchmark", "p50 ms", "p95 ms", "target p50 ms", "result"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-dsn", default=PG_ADMIN_DSN, help="admin DSN to create the DB")
    parser.add_argument("--keep", action="store_true", help="keep the filled database")
    parser.add_argument("--url", help="measure a kept database (one dialect) instead")
    args = parser.parse_args()
    if args.url:
        args.dialect = make_url(args.url).get_backend_name()
    dialects = ["sqlite", "postgresql"] if args.dialect == "both" else [args.dialect]
    rows: list[list[str]] = []
    for dialect in dialects:
        rows += asyncio.run(run_dialect(dialect, args))
    print()
    print(
        f"{args.messages:,} messages, {args.runs} runs per benchmark; Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    print_table(rows)
    return 0 if all(r[-1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
