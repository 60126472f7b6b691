"""Building and parsing messages: round trips, header-injection refusal, and parsing that never
raises on malformed input (pure, no I/O)."""

from __future__ import annotations

import base64
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy

import pytest

from agentpost.domain.addresses import Address
from agentpost.domain.mime import (
    PREVIEW_CHARS,
    AttachmentInput,
    MimeError,
    OutgoingMessage,
    ParsedMessage,
    attachment_bytes,
    build_message,
    build_raw,
    build_with_view,
    decode_attachment,
    html_to_text,
    new_message_id,
    normalize_message_id,
    parse_message,
    split_references,
)

DATE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
FALLBACK = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
PDF = b"%PDF-1.4\x00\x01\xff\xfe" * 300


def _outgoing(**overrides: object) -> OutgoingMessage:
    values: dict[str, object] = {
        "sender": Address("alice@agents.test", "Älice Agent"),
        "to": [Address("bob@example.test", "Bob, Jr.")],
        "subject": "Quarterly report",
    }
    values.update(overrides)
    return OutgoingMessage(**values)  # type: ignore[arg-type]


def _raw(out: OutgoingMessage, message_id: str = "<m1@agents.test>") -> bytes:
    return build_raw(out, message_id=message_id, date=DATE)


def test_build_then_parse_round_trips_every_field() -> None:
    """What is built comes back from the parser: addresses, subject, threading headers, bodies."""
    out = _outgoing(
        cc=[Address("carol@example.test")],
        reply_to=[Address("replies@agents.test", "Replies")],
        subject="Héllo wörld — " + "long subject " * 8,
        text="Line one\nLine two with ünïcode\n",
        html="<p>Hi <b>there</b> &amp; welcome</p>",
        in_reply_to="<parent@example.test>",
        references=["<root@example.test>", "<parent@example.test>"],
        extra_headers={"X-Agent-Run": "42"},
    )
    raw = _raw(out)
    parsed = parse_message(raw)
    assert parsed.message_id == "<m1@agents.test>"
    assert parsed.subject == out.subject.strip()
    assert parsed.from_addr == Address("alice@agents.test", "Älice Agent")
    assert parsed.to == [Address("bob@example.test", "Bob, Jr.")]
    assert parsed.cc == [Address("carol@example.test")]
    assert parsed.reply_to == [Address("replies@agents.test", "Replies")]
    assert parsed.date == DATE
    assert parsed.in_reply_to == "<parent@example.test>"
    assert parsed.references == ["<root@example.test>", "<parent@example.test>"]
    assert parsed.text == "Line one\nLine two with ünïcode\n"
    assert parsed.html.strip() == out.html
    assert parsed.attachments == []
    assert b"X-Agent-Run: 42\r\n" in raw


def test_attachments_round_trip_byte_for_byte() -> None:
    """Binary and text attachments keep their names, types, sizes and exact bytes."""
    notes = "naïve notes\r\nline 2".encode()
    out = _outgoing(
        text="see attached",
        html="<p>see attached</p>",
        attachments=[
            AttachmentInput("report.pdf", PDF, "application/pdf"),
            AttachmentInput("notes.txt", notes, "text/plain"),
            AttachmentInput("blob", b"\x00\x01", "nonsense"),
        ],
    )
    raw = _raw(out)
    parsed = parse_message(raw)
    assert parsed.text == "see attached\n"
    assert "see attached" in parsed.html
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("report.pdf", "application/pdf", len(PDF)),
        ("notes.txt", "text/plain", len(notes)),
        ("blob", "nonsense/octet-stream", 2),
    ]
    first = attachment_bytes(raw, 0)
    assert first is not None and first[1] == PDF
    second = attachment_bytes(raw, 1)
    assert second is not None and second[0].filename == "notes.txt" and second[1] == notes
    assert attachment_bytes(raw, 3) is None
    assert parsed.attachments[0].to_dict() == {
        "filename": "report.pdf",
        "contentType": "application/pdf",
        "size": len(PDF),
    }


def test_the_preview_is_the_whole_body_collapsed_then_cut() -> None:
    """Only a prefix of a long body is collapsed; the preview is the same as collapsing all
    of it, whatever the runs of spaces and tabs around the cut."""
    rng = random.Random(7)
    for _ in range(3000):
        pieces = [rng.choice(["word", " ", "\t", "  \t ", "\n", "x" * rng.randint(1, 300)])]
        pieces += [
            rng.choice(["a", " " * rng.randint(1, 900), "\t\n", "y" * 50]) for _ in range(40)
        ]
        text = "".join(pieces)
        parsed = ParsedMessage("", "", Address(""), [], [], [], DATE, None, [], text=text, html="")
        expected = re.sub(r"[ \t]+", " ", text.strip()).strip()[:PREVIEW_CHARS]
        assert parsed.preview == expected


def test_html_only_message_previews_as_plain_text() -> None:
    """With no text part the preview is the HTML rendered to text, entities decoded."""
    raw = (
        b"From: a@x.test\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><h1>Hello</h1>\r\n<p>Tom &amp; Jerry&nbsp;say  hi</p></body></html>"
    )
    parsed = parse_message(raw)
    assert parsed.text == ""
    assert parsed.preview == "Hello Tom & Jerry\xa0say hi"


def test_preview_is_whitespace_collapsed_and_capped() -> None:
    """Previews stay short: runs of spaces collapse and the length is capped."""
    raw = b"Subject: s\r\n\r\n" + b"word    " * 400
    preview = parse_message(raw).preview
    assert len(preview) == PREVIEW_CHARS
    assert "  " not in preview


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.test"}, "subject"),
        ({"subject": "Hi\nBcc: victim@example.test"}, "subject"),
        ({"subject": "Hi\u2028Bcc: victim@example.test"}, "subject"),
        ({"extra_headers": {"X-Note": "a\r\nBcc: victim@example.test"}}, "X-Note"),
        ({"extra_headers": {"X-Note\r\nBcc": "victim@example.test"}}, "headers"),
        ({"extra_headers": {"X Note": "v"}}, "headers"),
        ({"extra_headers": {"X-Note:": "v"}}, "headers"),
        ({"in_reply_to": "<a@b>\r\nBcc: victim@example.test"}, "references"),
        ({"references": ["<a@b>", "<c@d>\nBcc: victim@example.test"]}, "references"),
        ({"sender": Address("alice@agents.test", "Evil\r\nBcc: victim@example.test")}, "from"),
        ({"to": [Address("bob@example.test", "Bob\nBcc: victim@example.test")]}, "to"),
        ({"cc": [Address("c@example.test", "C\rX: y")]}, "cc"),
        ({"reply_to": [Address("r@example.test", "R\nX: y")]}, "replyTo"),
        (
            {"attachments": [AttachmentInput("a.txt\r\nBcc: victim@example.test", b"x")]},
            "attachments.0.filename",
        ),
        (
            {"attachments": [AttachmentInput("a.txt", b"x", "text/plain\r\nBcc: v@example.test")]},
            "attachments.0.contentType",
        ),
    ],
)
def test_header_injection_is_refused_with_the_field_named(
    overrides: dict[str, object], field: str
) -> None:
    """Any value that would become a header line and contains a line break is a MimeError."""
    for build in (build_message, build_raw):
        with pytest.raises(MimeError) as caught:
            build(_outgoing(**overrides), message_id="<m@x.test>", date=DATE)
        assert caught.value.field == field


_BOUNDARY = re.compile(rb"={15}\d+==")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"text": "plain ascii body\n" * 50},
        {
            "sender": Address("a@agents.test", 'Zoë, "the" Ünïcode'),
            "to": [Address("b@x.test", "Smith, John"), Address("c@y.test")],
            "cc": [Address("d@z.test", "Dee")],
            "reply_to": [Address("r@x.test")],
            "subject": "Grüße — a subject long enough to need folding at seventy-eight chars",
            "text": "héllo",
            "html": "<p>hi</p>",
            "in_reply_to": "<p1@x.test>",
            "references": [f"<r{i}@example.test>" for i in range(8)],
            "attachments": [AttachmentInput("résumé.pdf", PDF, "application/pdf")],
            "extra_headers": {"Auto-Submitted": "auto-replied", "X-Custom": "v"},
        },
        {"subject": " leading and trailing spaces ", "text": ""},
        # Plain ASCII text alone is written without the package: every line-end mix, lines
        # at and just over the 78-character fold, control characters, "From " and dots.
        {"text": "a\r\nb\rc\n\nd"},
        {"text": "\n\n\r\r\n"},
        {"text": "x" * 78 + "\n" + "y" * 78},
        {"text": "x" * 79},
        {"text": "short\n" + "z" * 200 + "\n"},
        {"text": "From me\n.\n..\n tab\there\x0bvt\x0cff\x1cfs\x00nul\n"},
        {"text": "no newline at the end"},
        {"text": "ascii but html too", "html": "<p>x</p>"},
        {"text": "ünïcode ends the fast path"},
    ],
)
def test_build_raw_writes_exactly_what_the_email_package_writes(
    overrides: dict[str, object],
) -> None:
    """The fast builder's bytes equal the email package's own, MIME boundaries aside."""
    out = _outgoing(**overrides)
    slow = build_message(out, message_id="<m@x.test>", date=DATE).as_bytes(policy=policy.SMTP)
    fast = build_raw(out, message_id="<m@x.test>", date=DATE)
    assert _BOUNDARY.sub(b"B", fast) == _BOUNDARY.sub(b"B", slow)


def _random_outgoing(rng: random.Random) -> OutgoingMessage:
    """A message the send path could build: short or long, ASCII or not, plain or not."""

    def word() -> str:
        return rng.choice(["report", "Q3", "re", "a.b", "(ok)", '"q"', "ünï", "x" * 40])

    def words(most: int) -> str:
        return " ".join(word() for _ in range(rng.randint(0, most)))

    def address(n: int) -> Address:
        domain = rng.choice(["example.test", "agents.test", "a-b.example.test"])
        return Address(f"u{n}.{rng.randint(0, 99)}@{domain}", rng.choice(["", "", words(2)]))

    lines = [rng.choice(["", words(6), "x" * rng.choice([77, 78, 79]), ".", "From me"])]
    lines += [words(6) for _ in range(rng.randint(0, 6))]
    return OutgoingMessage(
        sender=address(0),
        to=[address(n) for n in range(1, rng.randint(2, 4))],
        cc=[address(n) for n in range(10, rng.randint(10, 12))],
        reply_to=[address(n) for n in range(20, rng.randint(20, 21))],
        subject=words(4).strip(),
        text=rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n", "\r\n"]),
        html=rng.choice(["", "", "", "<p>hi</p>"]),
        in_reply_to=rng.choice([None, "<parent@example.test>"]),
        references=rng.choice([[], ["<a@x.test>"], ["<a@x.test>", "<b@y.test>"]]),
    )


def test_the_view_of_a_built_message_is_what_parsing_its_bytes_gives() -> None:
    """The send path indexes a message it built from the view, without parsing the bytes;
    on 2,000 varied messages the view equals the parse exactly (and is given for most)."""
    rng = random.Random(20261207)
    viewed = 0
    for n in range(2000):
        out = _random_outgoing(rng)
        message_id = f"<m{n}@agents.test>"
        raw, view = build_with_view(out, message_id=message_id, date=DATE)
        again = build_raw(out, message_id=message_id, date=DATE)
        assert _BOUNDARY.sub(b"B", raw) == _BOUNDARY.sub(b"B", again)
        if view is not None:
            viewed += 1
            assert view == parse_message(raw, fallback_date=FALLBACK), out
    assert 200 < viewed < 2000  # both ways were taken


MALFORMED = {
    "empty": b"",
    "body only": b"just a body, no headers\n",
    "8-bit garbage": bytes(range(256)) * 8,
    "latin-1 headers": (
        b"Subject: caf\xe9 \xff\r\nFrom: J\xf6rg <j@x.test>\r\n\r\nbody \xe9\xff\r\n"
    ),
    "broken date": b"Date: Mon, 99 Foo 20x1 25:61:00 +9999\r\nSubject: s\r\n\r\nhi",
    "word date": b"Date: yesterday-ish\r\n\r\nhi",
    "bad base64 and charset": (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n'
        b"Content-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n--XX\r\n"
        b"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"<b>hi=ZZ</b>\r\n"
    ),
    "multipart without boundary": b"Content-Type: multipart/mixed\r\n\r\nstuff\r\n",
    "unterminated multipart": (
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nhalf"
    ),
    "broken address headers": (
        b'From: <<<@@@>>>, "unterminated\r\nTo: ,,,;;;\r\nCc: @\r\nMessage-ID: not an id\r\n'
        b"References: <a@b> garbage <c@d\r\nIn-Reply-To: <<x@y>>\r\n\r\nbody"
    ),
    "bad encoded words": (
        b"Subject: =?utf-8?B?////?= =?bogus?Q?x?=\r\nFrom: =?x?q?=ZZ?= <a@b.c>\r\n\r\n"
    ),
    "huge header": b"Subject: " + b"x" * 100_000 + b"\r\n\r\n",
    "nul bytes": b"Subject: a\x00b\r\nFrom: a@b.test\x00\r\n\r\nbo\x00dy",
    "bare lf and cr": b"Subject: s\rFrom: a@b.c\n\nbody\r",
    "charset idna": b"Content-Type: text/plain; charset=idna\r\n\r\n\xff body",
    "charset undefined": b"Content-Type: text/plain; charset=undefined\r\n\r\nbody",
    "charset punycode": b"Content-Type: text/plain; charset=punycode\r\n\r\n\xe9",
    "encoded word undefined": b"Subject: =?undefined?q?x?= =?idna?q?=FF?=\r\n\r\n",
    "bad rfc2231 filename": (
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%ZZ%\xff\r\n\r\nx"
    ),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_parsing_malformed_input_never_raises(raw: bytes) -> None:
    """A mail server stores whatever it accepted: every field degrades to best-effort text."""
    parsed = parse_message(raw, fallback_date=FALLBACK)
    assert isinstance(parsed.subject, str)
    assert isinstance(parsed.text, str)
    assert parsed.date.tzinfo is not None
    for value in (parsed.subject, parsed.text, parsed.html, parsed.from_addr.address):
        # Text that reaches the database must be storable: PostgreSQL refuses NUL in text.
        assert "\x00" not in value
        value.encode("utf-8")  # and no lone surrogates from 8-bit bytes


def test_undecodable_bytes_become_replacement_characters() -> None:
    """8-bit headers and bodies without a charset decode to U+FFFD rather than failing."""
    parsed = parse_message(MALFORMED["latin-1 headers"])
    assert parsed.subject == "caf\ufffd \ufffd"
    assert parsed.from_addr == Address("j@x.test", "J\ufffdrg")
    assert parsed.text.startswith("body \ufffd\ufffd")


def test_declared_charsets_are_honoured() -> None:
    """Encoded words and 8-bit parts in a declared charset decode correctly."""
    raw = (
        b"Subject: =?iso-8859-1?q?caf=E9?=\r\n"
        b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.subject == "café"
    assert parsed.text == "café\n"


@pytest.mark.parametrize("charset", ["no-such-charset", "idna", "undefined", "punycode"])
def test_unusable_charsets_fall_back_to_utf8(charset: str) -> None:
    """Charsets Python cannot decode text with fall back to UTF-8 instead of raising."""
    raw = f"Content-Type: text/plain; charset={charset}\r\n\r\ncafé\r\n".encode()
    assert parse_message(raw).text == "café\n"


def test_missing_headers_give_empty_values() -> None:
    """A message without headers parses to empty fields, the fallback date and no id."""
    parsed = parse_message(b"hello\n", fallback_date=FALLBACK)
    assert parsed.message_id == ""
    assert parsed.subject == ""
    assert parsed.from_addr.address == ""
    assert parsed.to == [] and parsed.cc == [] and parsed.references == []
    assert parsed.in_reply_to is None
    assert parsed.date == FALLBACK
    assert parsed.text == "hello\n"


@pytest.mark.parametrize(
    "value", ["Mon, 99 Foo 20x1 25:61:00 +9999", "yesterday", "", "Tue, 31 Feb 2024 10:00:00 +0000"]
)
def test_broken_dates_fall_back(value: str) -> None:
    """An unparseable Date header gives the fallback date (the time it was received)."""
    raw = f"Date: {value}\r\nSubject: s\r\n\r\nhi".encode()
    assert parse_message(raw, fallback_date=FALLBACK).date == FALLBACK


def test_broken_date_without_fallback_is_now() -> None:
    """Without a fallback, a broken date becomes the current time, never an exception."""
    before = datetime.now(UTC)
    parsed = parse_message(b"Date: nonsense\r\n\r\nhi")
    assert before <= parsed.date <= datetime.now(UTC)


def test_dates_are_converted_to_utc() -> None:
    """Offsets are applied and naive dates (no zone, RFC 5322 -0000) are taken as UTC."""
    zoned = parse_message(b"Date: Mon, 06 May 2024 09:08:09 +0200\r\n\r\n")
    assert zoned.date == DATE and zoned.date.utcoffset() == timedelta(0)
    naive = parse_message(b"Date: Mon, 06 May 2024 07:08:09 -0000\r\n\r\n")
    assert naive.date == DATE
    assert naive.date.tzinfo is not None
    eastern = datetime(2024, 5, 6, 3, 8, 9, tzinfo=timezone(timedelta(hours=-4)))
    assert parse_message(b"Date: Mon, 06 May 2024 03:08:09 -0400\r\n\r\n").date == eastern


def test_parse_keeps_message_id_threading_headers_from_broken_input() -> None:
    """Bad Message-IDs are dropped, doubled brackets and partial References still salvaged."""
    parsed = parse_message(MALFORMED["broken address headers"])
    assert parsed.message_id == ""
    assert parsed.in_reply_to == "<x@y>"
    assert parsed.references == ["<a@b>"]
    assert parsed.text == "body"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@host>", "<abc@host>"),
        ("  <abc@host>  ", "<abc@host>"),
        ("abc@host", "<abc@host>"),
        ("junk <first@host> <second@host>", "<first@host>"),
        ("<<nested@host>>", "<nested@host>"),
        ("two words", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_message_id_normalisation(value: str | None, expected: str | None) -> None:
    """The first bracketed id wins, bare ids gain brackets, anything else is None."""
    assert normalize_message_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b> <c@d>\r\n <e@f>", ["<a@b>", "<c@d>", "<e@f>"]),
        ("<a@b>,<c@d>", ["<a@b>", "<c@d>"]),
        ("a@b c@d not-an-id", ["<a@b>", "<c@d>"]),
        (["<a@b>", "<c@d> <e@f>"], ["<a@b>", "<c@d>", "<e@f>"]),
        ("", []),
        (None, []),
    ],
)
def test_references_splitting(value: str | list[str] | None, expected: list[str]) -> None:
    """A References header (or list) splits into its ids, in order, bare ids bracketed."""
    assert split_references(value) == expected


def test_new_message_ids_are_unique_and_on_our_domain() -> None:
    """Every built message gets a fresh id under the server's domain."""
    first, second = new_message_id("agents.test"), new_message_id("agents.test")
    assert first != second
    assert first.startswith("<") and first.endswith("@agents.test>")


def test_decode_attachment_handles_base64_and_text() -> None:
    """API attachments arrive as base64 or UTF-8 text; anything else is a clear error."""
    assert decode_attachment(base64.b64encode(PDF).decode(), "base64", field_name="a") == PDF
    assert decode_attachment("héllo", None, field_name="a") == "héllo".encode()
    assert decode_attachment("x", "UTF-8", field_name="a") == b"x"
    with pytest.raises(MimeError, match="not valid base64") as bad:
        decode_attachment("***", "base64", field_name="attachments[0].content")
    assert bad.value.field == "attachments[0].content"
    with pytest.raises(MimeError, match="encoding must be"):
        decode_attachment("x", "uuencode", field_name="attachments[1].encoding")


def test_html_to_text_strips_tags_and_unescapes() -> None:
    """The search and preview rendering of HTML is plain words, entities decoded."""
    assert html_to_text("<p>A&lt;B</p><br/>&amp;  C") == "A<B & C"
    assert html_to_text("") == ""
