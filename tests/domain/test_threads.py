"""Reply and forward composition: subjects, References chains and quoted bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentpost.domain.threads import (
    MAX_REFERENCES,
    forward_body,
    forward_subject,
    quote_reply,
    reply_references,
    reply_subject,
)

WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE: re: Aw: Hello", "Re: Hello"),
        ("Re[2]: Hello", "Re: Hello"),
        ("SV: Re : Hello", "Re: Hello"),
        ("  re:re:Hello  ", "Re: Hello"),
        ("Fwd: Hello", "Re: Fwd: Hello"),
        ("Regarding the plan", "Re: Regarding the plan"),
        ("Re:", "Re:"),
        ("", "Re:"),
    ],
)
def test_reply_subject_prefixes_re_exactly_once(original: str, expected: str) -> None:
    """Re:/RE:/Aw:/SV: prefixes in any case and count collapse to one 'Re: '."""
    assert reply_subject(original) == expected


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Report", "Fwd: Report"),
        ("Fwd: Report", "Fwd: Report"),
        ("FW: fwd: WG: Report", "Fwd: Report"),
        ("Re: Report", "Fwd: Re: Report"),
        ("Fwdnothing", "Fwd: Fwdnothing"),
        ("", "Fwd:"),
    ],
)
def test_forward_subject_prefixes_fwd_exactly_once(original: str, expected: str) -> None:
    """Fwd:/FW:/WG: prefixes collapse to one 'Fwd: '; a reply prefix is kept."""
    assert forward_subject(original) == expected


def test_reply_references_extend_the_parents_chain() -> None:
    """RFC 5322 §3.6.4: the parent's References followed by the parent's Message-ID."""
    assert reply_references("<p@x>", ["<root@x>", "<mid@x>"], "<mid@x>") == [
        "<root@x>",
        "<mid@x>",
        "<p@x>",
    ]


def test_reply_references_fall_back_to_in_reply_to() -> None:
    """A parent without References contributes its In-Reply-To, then its own id."""
    assert reply_references("<p@x>", [], "<gp@x>") == ["<gp@x>", "<p@x>"]
    assert reply_references("<p@x>", [], None) == ["<p@x>"]


def test_reply_references_do_not_repeat_the_parent() -> None:
    """A parent id already in the chain is not appended a second time."""
    assert reply_references("<p@x>", ["<root@x>", "<p@x>"], None) == ["<root@x>", "<p@x>"]
    assert reply_references("", ["<root@x>"], None) == ["<root@x>"]


def test_long_reference_chains_keep_the_root_and_the_newest() -> None:
    """Trimming bounds the header yet keeps the thread root and the most recent ids."""
    chain = [f"<m{i}@x>" for i in range(120)]
    result = reply_references("<parent@x>", chain, None)
    assert len(result) == MAX_REFERENCES
    assert result[0] == "<m0@x>"
    assert result[-1] == "<parent@x>"
    assert result[1:-1] == chain[-(MAX_REFERENCES - 2) :]


def test_quote_reply_prefixes_every_line() -> None:
    """The original is quoted line by line under an attribution; blank lines become '>'."""
    body = quote_reply("Thanks!", "line one\n\nline three", "bob@example.test", WHEN)
    assert body == (
        "Thanks!\n\nOn 2024-05-06T07:08:09+00:00, bob@example.test wrote:\n"
        "> line one\n>\n> line three\n"
    )


def test_quote_reply_without_original_text_is_just_the_reply() -> None:
    """Nothing to quote means no dangling attribution line."""
    assert quote_reply("Thanks!", "", "bob@example.test", WHEN) == "Thanks!\n"


def test_forward_body_carries_the_original_headers_and_text() -> None:
    """A forward shows who sent what when, then the original text, after the note."""
    body = forward_body(
        "FYI",
        original_from="bob@example.test",
        original_to="alice@agents.test",
        original_date=WHEN,
        subject="Report",
        text="numbers attached",
    )
    assert body.startswith("FYI\n\n---------- Forwarded message ----------\n")
    assert "From: bob@example.test\nTo: alice@agents.test\n" in body
    assert "Subject: Report\n\nnumbers attached" in body
    no_note = forward_body(
        "", original_from="b", original_to="a", original_date=WHEN, subject="s", text="t"
    )
    assert no_note.startswith("---------- Forwarded message")
