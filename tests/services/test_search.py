"""Search on SQLite (FTS5) and PostgreSQL (tsvector): every case here expects the same answer
on both dialects, so a difference between the two index implementations fails a test."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from agentpost.errors import FolderNotFound
from agentpost.services import inbox, mailbox
from agentpost.services.context import AppContext
from agentpost.services.mailbox import SearchCriteria
from agentpost.storage import search
from agentpost.storage.records import AgentRecord
from agentpost.storage.search import TextCriteria

from .support import agent, send

pytestmark = pytest.mark.anyio

CORPUS = [
    (
        "Carol Finance <carol@example.com>",
        "Bob <bob@localhost>",
        "Invoices for May",
        "Mon, 01 May 2024 09:00:00 +0000",
        "text/plain",
        "Please find the invoices attached. Total due 1200 EUR.",
    ),
    (
        "Dave <dave@partner.org>",
        "bob@localhost",
        "Lunch at the café",
        "Fri, 10 May 2024 12:00:00 +0200",
        "text/plain",
        "Meet at Café Über at noon? Write to dave.smith@partner.org or see menu-v2.pdf, 3.14 km. "
        + "Q" * 2100,
    ),
    (
        "Alice Agent <alice@localhost>",
        "bob@localhost, Erin <erin@example.net>",
        "Re: project_alpha status",
        "Sat, 01 Jun 2024 08:30:00 +0000",
        "text/plain",
        "The deploy-pipeline is green; see https://ci.example.net/build/42 for details.",
    ),
    (
        "newsletter@shop.example",
        "list@shop.example",
        "Weekly deals",
        "Sat, 15 Jun 2024 18:00:00 +0000",
        "text/html",
        "<html><body><p>Big <b>savings</b> on invoicing&nbsp;software</p></body></html>",
    ),
]


def _raw(n: int, sender: str, to: str, subject: str, date: str, ctype: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: <m{n}@corpus.test>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {ctype}; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


async def _corpus(ctx: AppContext) -> AgentRecord:
    """bob's INBOX holds the corpus as UIDs 1-4, in order."""
    bob = await agent(ctx, "bob")
    for n, item in enumerate(CORPUS, start=1):
        await inbox.accept_message(ctx, _raw(n, *item), [bob])
    return bob


async def _uids(ctx: AppContext, who: AgentRecord, **kw: object) -> list[int]:
    text_kw = {k: kw.pop(k) for k in ("from_", "to", "subject", "text") if k in kw}
    criteria = SearchCriteria(text=TextCriteria(**text_kw), **kw)  # type: ignore[arg-type]
    found, total = await mailbox.search_messages(ctx, who, criteria, limit=50, offset=0)
    assert total == len(found)
    return [m.uid for m in found]


# Each table runs against one corpus per dialect; a mismatch shows as a dict diff by query.
TEXT_CASES: list[tuple[str, list[int]]] = [
    ("invoic", [4, 1]),  # subject/body prefix, plain and HTML bodies; newest first
    ("Invoices attached", [1]),  # several words must all match
    ("1200", [1]),
    ("uber", [2]),  # diacritics folded on both dialects
    ("Über", [2]),
    ("cafe", [2]),
    ("smith", [2]),  # an address inside the body is words, not one opaque token
    ("partner", [2]),
    ("menu", [2]),  # file names split at the dot and the dash
    ("v2", [2]),
    ("14", [2]),  # so do decimals
    ("pipeline", [3]),
    ("deploy", [3]),
    ("alpha", [3]),  # underscores separate words
    ("project alpha", [3]),
    ("example", [3]),  # the URL's host in the body
    ("build 42", [3]),
    ("savings", [4]),
    ("software", [4]),
    ("nbsp", []),  # HTML entities are decoded, not indexed
    ("carol", []),  # the text criterion is subject and body, not the sender
    ("nothingmatches", []),
    ("q" * 2100, []),  # base64-like runs are not indexed on either dialect
    ("q" * 100, []),
]

FIELD_CASES: list[tuple[str, str, list[int]]] = [
    ("from_", "carol", [1]),
    ("from_", "Carol Finance", [1]),  # display names are searchable
    ("from_", "carol@example.com", [1]),
    ("from_", "partner", [2]),  # the domain part of the address
    ("from_", "ali", [3]),
    ("from_", "example", [4, 1]),  # carol@example.com and newsletter@shop.example
    ("from_", "bob", []),
    ("to", "bob", [3, 2, 1]),
    ("to", "erin", [3]),  # Cc and every To address are the 'to' field
    ("to", "example.net", [3]),
    ("to", "list", [4]),
    ("subject", "lunch", [2]),
    ("subject", "CAF", [2]),
    ("subject", "re", [3]),
    ("subject", "savings", []),  # a body word is not a subject match
]


async def test_text_search_matches_word_prefixes_in_subject_and_body(
    any_ctx: AppContext,
) -> None:
    """Text search finds word prefixes in the subject and body, identically on both dialects."""
    bob = await _corpus(any_ctx)
    found = {text: await _uids(any_ctx, bob, text=text) for text, _ in TEXT_CASES}
    assert found == dict(TEXT_CASES)


async def test_field_search_matches_prefixes_in_that_field_only(any_ctx: AppContext) -> None:
    """from/to/subject criteria look only at their own field."""
    bob = await _corpus(any_ctx)
    found = {
        (field, value): await _uids(any_ctx, bob, **{field: value})
        for field, value, _ in FIELD_CASES
    }
    assert found == {(field, value): uids for field, value, uids in FIELD_CASES}


async def test_criteria_combine_with_and(any_ctx: AppContext) -> None:
    """Every given criterion must hold."""
    bob = await _corpus(any_ctx)
    assert await _uids(any_ctx, bob, from_="example", text="invoices") == [1]
    assert await _uids(any_ctx, bob, from_="example", subject="weekly", text="invoic") == [4]
    assert await _uids(any_ctx, bob, to="erin", text="invoic") == []


async def test_since_and_before_bound_the_date(any_ctx: AppContext) -> None:
    """since is inclusive, before exclusive, both compared in UTC."""
    bob = await _corpus(any_ctx)
    june = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
    assert await _uids(any_ctx, bob, since=june) == [4, 3]
    assert await _uids(any_ctx, bob, before=june) == [2, 1]
    may_10_utc = datetime(2024, 5, 10, 10, 0, tzinfo=UTC)  # 12:00 +0200
    assert await _uids(any_ctx, bob, since=may_10_utc, before=june) == [2]
    assert await _uids(any_ctx, bob, since=may_10_utc, text="invoic") == [4]


async def test_seen_and_folder_filters(any_ctx: AppContext) -> None:
    """seen=True/False and a folder restrict results; folder aliases work, unknown ones fail."""
    bob = await _corpus(any_ctx)
    await mailbox.set_seen(any_ctx, bob, [2, 4], seen=True)
    assert await _uids(any_ctx, bob, seen=True) == [4, 2]
    assert await _uids(any_ctx, bob, seen=False) == [3, 1]
    await mailbox.move_messages(any_ctx, bob, [4], source="INBOX", target="Archive")
    assert await _uids(any_ctx, bob, folder="Archive", text="invoic") == [1]
    assert await _uids(any_ctx, bob, folder="inbox", text="invoic") == [1]
    assert await _uids(any_ctx, bob, text="invoic") == [1, 1]  # INBOX 1, Archive 1
    with pytest.raises(FolderNotFound):
        await _uids(any_ctx, bob, folder="Missing")


async def test_sent_mail_is_searchable_by_recipient(any_ctx: AppContext) -> None:
    """A message sent through the outbox is indexed in the Sent folder too."""
    bob = await _corpus(any_ctx)
    await send(any_ctx, bob, "quinn@example.org", "Quarterly numbers", text="see the figures")
    assert await _uids(any_ctx, bob, to="quinn", folder="Sent") == [1]
    assert await _uids(any_ctx, bob, text="figures") == [1]


async def test_paging_reports_the_full_total(any_ctx: AppContext) -> None:
    """limit/offset page through matches while total counts them all, even past the end."""
    bob = await _corpus(any_ctx)
    criteria = SearchCriteria(text=TextCriteria())
    first, total = await mailbox.search_messages(any_ctx, bob, criteria, limit=3, offset=0)
    rest, again = await mailbox.search_messages(any_ctx, bob, criteria, limit=3, offset=3)
    beyond, still = await mailbox.search_messages(any_ctx, bob, criteria, limit=3, offset=10)
    assert (total, again, still) == (4, 4, 4)
    assert [m.uid for m in first] == [4, 3, 2]
    assert [m.uid for m in rest] == [1]
    assert beyond == []


SYNTAX_CASES: list[tuple[str, list[int]]] = [
    ('"invoices', [1]),
    ("-invoices", [1]),
    ("invoices OR savings", []),  # 'or' is a word that must match too
    ("inv* NEAR(x y)", []),
    ("subject: invoices", []),  # 'subject' is a word here, and no message contains it
    ("invoices & savings | !x", []),
    ("'; DROP TABLE messages; --", []),
    ("(((", [4, 3, 2, 1]),  # no words at all: no text restriction
    ("***", [4, 3, 2, 1]),
]


async def test_query_syntax_in_user_text_is_just_words(any_ctx: AppContext) -> None:
    """FTS5 and tsquery operators in user input never reach the query parser."""
    bob = await _corpus(any_ctx)
    found = {query: await _uids(any_ctx, bob, text=query) for query, _ in SYNTAX_CASES}
    assert found == dict(SYNTAX_CASES)


async def test_search_never_crosses_agents(any_ctx: AppContext) -> None:
    """Another agent's matching mail is invisible to a search."""
    await _corpus(any_ctx)
    carol = await agent(any_ctx, "carol")
    assert await _uids(any_ctx, carol, text="invoic") == []
    assert await _uids(any_ctx, carol) == []


def test_ascii_text_is_split_into_the_same_words_as_the_token_pattern() -> None:
    # The ASCII fast path (translate and split) must index exactly the pattern's words.
    rng = random.Random(20261207)  # fixed: the same strings on every run
    alphabet = [chr(c) for c in range(128)] + ["ab", "XY", "12", "_", "a-b", "x@y.z"]
    for _ in range(20000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        regex_words = search._TOKEN_RE.findall(value.lower())
        expected = " ".join(w for w in regex_words if len(w) <= search.MAX_WORD_CHARS)
        assert search._words(value) == expected, value
    assert search._words("Ünïcode Straße, café") == "unicode straße cafe"  # the regex path
