"""Full-text search, per dialect: SQLite FTS5 or PostgreSQL tsvector.

Both index four fields: the sender, the recipients, the subject and the body. SQLite keeps them
in the FTS5 table ``messages_fts`` (rowid = message id); PostgreSQL in four ``tsvector``
columns of the message row itself, each with its GIN index, written by the same INSERT.
Separate unweighted vectors matter: a weight-restricted match (``word:*C``) forces PostgreSQL
to re-read every candidate's vector from TOAST, which made a search 10x slower. Queries match
word prefixes, so ``alice`` finds ``alice@example.com`` and ``invoic`` finds ``invoices``.
User text never reaches the query syntax unescaped: it is split into word tokens first.

Both sides are folded in Python before either engine sees them (lower case, no diacritics,
words of letters and digits), so the two dialects give the same answers: left alone,
PostgreSQL's parser keeps ``dave@example.org``, ``menu-v2.pdf`` or ``3.14`` as single lexemes and
does not fold accents, while SQLite's unicode61 tokenizer splits and folds them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    func,
    literal_column,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage import direct
from agentpost.storage.tables import messages

_TOKEN_RE = re.compile(r"[^\W_]+")  # letters and digits, as unicode61 splits them
# The combining diacritical mark blocks: what SQLite's remove_diacritics folds (Latin script).
_MARKS_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
MAX_INDEXED_BODY = 200_000  # characters of body text indexed per message
MAX_TOKENS = 16
# Longer "words" are base64 or hex runs, not something a person searches for; PostgreSQL would
# skip those over 2047 characters anyway, so both dialects drop them from the index.
MAX_WORD_CHARS = 100


@dataclass(frozen=True, slots=True)
class SearchDocument:
    from_text: str
    to_text: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class TextCriteria:
    """Word-prefix criteria per field; all given fields must match (AND)."""

    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    text: str | None = None

    def is_empty(self) -> bool:
        return not any((self.from_, self.to, self.subject, self.text))


def _fold(value: str) -> str:
    """Lower case without diacritics (NFKD, combining marks dropped): "Über" → "uber"."""
    if value.isascii():
        return value.lower()
    return _MARKS_RE.sub("", unicodedata.normalize("NFKD", value.lower()))


def tokens(value: str) -> list[str]:
    """The query words of user text, folded like the indexed text.

    An over-long word is cut to MAX_WORD_CHARS, so it matches nothing rather than vanishing
    from the query (which would match everything).
    """
    return [word[:MAX_WORD_CHARS] for word in _TOKEN_RE.findall(_fold(value))[:MAX_TOKENS]]


# In ASCII text the token pattern's words are the runs of letters and digits, so every other
# character can become a space and str.split find them: C loops, several times cheaper than
# the regex on a message body (every stored copy is indexed, on the send path too).
_ASCII_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def _words(value: str) -> str:
    # Addresses and punctuation become plain words, the same on both dialects.
    folded = _fold(value)
    if folded.isascii():
        found = folded.translate(_ASCII_SEPARATORS).split()
    else:
        found = _TOKEN_RE.findall(folded)
    return " ".join(w for w in found if len(w) <= MAX_WORD_CHARS)


def _tsvector(words: str | ColumnElement[Any]) -> ColumnElement[Any]:
    # The 'simple' configuration: no stemming, no stop words; the words are already folded.
    return func.to_tsvector(literal_column("'simple'"), words)


def _tsquery(query: str) -> ColumnElement[Any]:
    return func.to_tsquery(literal_column("'simple'"), query)


_VECTOR_COLUMNS = ("search_from", "search_to", "search_subject", "search_text")


def row_binds(dialect: str) -> dict[str, ColumnElement[Any]]:
    """The message row's vector columns as SQL over bound words (PostgreSQL; none on SQLite),
    so one statement can insert many rows."""
    if dialect == "sqlite":
        return {}
    return {name: _tsvector(bindparam(f"{name}_words", type_=String())) for name in _VECTOR_COLUMNS}


def row_params(dialect: str, doc: SearchDocument) -> dict[str, str]:
    """The bound words for ``row_binds``."""
    if dialect == "sqlite":
        return {}
    subject = _words(doc.subject)
    return {
        "search_from_words": _words(doc.from_text),
        "search_to_words": _words(doc.to_text),
        "search_subject_words": subject,
        "search_text_words": f"{subject} {_words(doc.body[:MAX_INDEXED_BODY])}",
    }


# The SQLite FTS5 table as far as inserting into it goes. Its own metadata: the migrations
# create it (a virtual table), not storage/tables.
_FTS_TABLE = Table(
    "messages_fts",
    MetaData(),
    Column("rowid", Integer),
    *(Column(name, String) for name in ("from_text", "to_text", "subject", "body")),
)


async def index_rows(
    conn: AsyncConnection, dialect: str, items: list[tuple[int, SearchDocument]]
) -> None:
    """Add stored messages to the SQLite FTS5 table (PostgreSQL indexed them with the row)."""
    if dialect != "sqlite" or not items:
        return
    rows = [
        {
            "rowid": row_id,
            "from_text": _words(doc.from_text),
            "to_text": _words(doc.to_text),
            "subject": _words(doc.subject),
            "body": _words(doc.body[:MAX_INDEXED_BODY]),
        }
        for row_id, doc in items
    ]
    await direct.insert(conn, _FTS_TABLE, rows)


async def unindex_messages(conn: AsyncConnection, dialect: str, row_ids: list[int]) -> None:
    if dialect != "sqlite" or not row_ids:
        return  # on PostgreSQL the vectors live in the row and go with it
    for start in range(0, len(row_ids), 500):
        chunk = row_ids[start : start + 500]
        marks = ",".join(str(int(i)) for i in chunk)
        await conn.execute(text(f"DELETE FROM messages_fts WHERE rowid IN ({marks})"))  # noqa: S608


def match_clause(dialect: str, criteria: TextCriteria) -> ColumnElement[bool] | None:
    """A WHERE clause restricting ``messages`` to rows matching the text criteria."""
    if dialect == "sqlite":
        return _fts5_clause(criteria)
    return _tsquery_clause(criteria)


def _fts5_clause(criteria: TextCriteria) -> ColumnElement[bool] | None:
    parts: list[str] = []
    for columns, value in (
        ("from_text", criteria.from_),
        ("to_text", criteria.to),
        ("subject", criteria.subject),
        ("{subject body}", criteria.text),
    ):
        for token in tokens(value or ""):
            parts.append(f'{columns} : "{token}"*')
    if not parts:
        return None
    query = " AND ".join(parts)
    return messages.c.id.in_(
        text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :fts_query").bindparams(
            fts_query=query
        )
    )


def _tsquery_clause(criteria: TextCriteria) -> ColumnElement[bool] | None:
    clauses: list[ColumnElement[bool]] = []
    for column, value in (
        (messages.c.search_from, criteria.from_),
        (messages.c.search_to, criteria.to),
        (messages.c.search_subject, criteria.subject),
        (messages.c.search_text, criteria.text),
    ):
        words = tokens(value or "")
        if words:
            query = " & ".join(f"{word}:*" for word in words)
            clauses.append(column.op("@@")(_tsquery(query)))
    return and_(*clauses) if clauses else None
