"""Address parsing, validation, de-duplication and the agent-name rules (pure, no I/O)."""

from __future__ import annotations

import random
from email.utils import getaddresses

import pytest

from agentpost.domain import addresses
from agentpost.domain.addresses import (
    Address,
    AddressError,
    check_agent_name,
    dedupe,
    has_line_break,
    is_valid_address,
    normalize,
    parse_address_list,
    split_addresses,
)


def test_parses_a_comma_separated_list_with_display_names() -> None:
    """A header-style string yields every mailbox, display names kept apart from addresses."""
    parsed = parse_address_list('a@x.test, Bob <b@y.test>, "Doe, Jane" <j@z.test>', field="to")
    assert parsed == [
        Address("a@x.test"),
        Address("b@y.test", "Bob"),
        Address("j@z.test", "Doe, Jane"),
    ]


def test_parses_a_list_of_strings_and_skips_blank_entries() -> None:
    """A JSON array works like a header; empty strings are ignored, not errors."""
    parsed = parse_address_list(["a@x.test", "  ", "C <c@x.test>, d@x.test"], field="cc")
    assert [a.address for a in parsed] == ["a@x.test", "c@x.test", "d@x.test"]
    assert parse_address_list(None, field="cc") == []
    assert parse_address_list("", field="cc") == []


@pytest.mark.parametrize(
    "bad",
    [
        "not-an-address",
        "a@",
        "@example.com",
        "a b@example.com",
        "a@-example.com",
        "a@example..com",
        "a..b@example.com",
        "a@exa_mple.com",
        "x" * 250 + "@example.com",
    ],
)
def test_invalid_addresses_are_rejected_naming_the_field(bad: str) -> None:
    """Each invalid entry is refused with a message that names the field and the entry."""
    with pytest.raises(AddressError) as caught:
        parse_address_list(["ok@example.com", bad], field="cc")
    assert str(caught.value).startswith("cc ")
    assert "invalid email address" in str(caught.value)


def test_one_bad_entry_in_a_header_string_rejects_the_whole_list() -> None:
    """A valid address next to garbage does not let the garbage through."""
    with pytest.raises(AddressError, match="'junk'"):
        parse_address_list("a@example.com, junk", field="to")


@pytest.mark.parametrize("sep", ["\r\n", "\n", "\r", "\x00", "\u2028"])
def test_line_breaks_are_rejected_before_parsing(sep: str) -> None:
    """CR, LF, NUL and Unicode line separators could smuggle a header (Bcc:): refused."""
    with pytest.raises(AddressError, match="line break"):
        parse_address_list(f"a@example.com{sep}Bcc: victim@example.com", field="to")
    assert has_line_break(f"x{sep}y")
    assert not has_line_break("plain value, with spaces\tand tabs")


def test_non_string_items_are_rejected() -> None:
    """A number inside a JSON list is a type error the caller can see, not a crash."""
    with pytest.raises(AddressError, match="to must be a string or a list of strings"):
        parse_address_list(["a@example.com", 42], field="to")  # type: ignore[list-item]


def test_special_use_domains_and_single_label_domains_are_valid() -> None:
    """Agents live on localhost and .test domains, so those must validate."""
    assert is_valid_address("agent@localhost")
    assert is_valid_address("agent@mail.example.test")
    assert is_valid_address("first.last+tag@sub-domain.example.org")
    assert not is_valid_address("agent@localhost.")


def test_dedupe_keeps_first_occurrence_case_insensitively_and_excludes() -> None:
    """Duplicates across to/cc/bcc collapse to the first spelling; excluded addresses vanish."""
    items = [
        Address("Bob@Example.com", "Bob"),
        Address("alice@example.com"),
        Address("bob@example.COM", "Robert"),
        Address("ALICE@example.com"),
        Address("me@example.com"),
    ]
    result = dedupe(items, exclude={"me@example.com"})
    assert result == [Address("Bob@Example.com", "Bob"), Address("alice@example.com")]


def test_normalize_lowers_and_strips() -> None:
    """The comparison form is lower case without surrounding spaces."""
    assert normalize("  Alice@Example.COM ") == "alice@example.com"


def test_address_helpers_split_and_format() -> None:
    """Domain is lowered, the local part kept; a display name is quoted when needed."""
    addr = Address("Agent.X@Example.Test", "Doe, Jane")
    assert addr.domain == "example.test"
    assert addr.local_part == "Agent.X"
    assert addr.formatted() == '"Doe, Jane" <Agent.X@Example.Test>'
    assert Address("a@x.test").formatted() == "a@x.test"
    assert addr.to_dict() == {"name": "Doe, Jane", "address": "Agent.X@Example.Test"}


@pytest.mark.parametrize("name", ["a", "Secretary", "agent-1", "my_agent.v2", "9lives", "x" * 64])
def test_valid_agent_names_are_accepted(name: str) -> None:
    """Letters, digits, '.', '_' and '-' up to 64 characters make a usable local part."""
    assert check_agent_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-lead", ".dot", "_under", "trailing.", "two..dots", "has space", "a@b", "x" * 65, "é"],
)
def test_invalid_agent_names_are_refused(name: str) -> None:
    """Names that would not be a safe dot-atom local part are refused with a reason."""
    with pytest.raises(AddressError, match="name must"):
        check_agent_name(name)


# Pieces the fast path knows and the ones that must send a value to the full parser.
_PIECES = ["a", "b.c", "x_y", "1", "-", "+", "%", ".", "..", "@", " ", "  ", "\t", ",", "<", ">"]
_PIECES += ['"', "(", ")", ";", ":", "[", "é", "\x1c", "Ann Lee", "=?utf-8?q?x?="]


def _random_values(count: int) -> list[str]:
    rng = random.Random(20261207)  # fixed: the same values on every run
    shapes = ["a@b.c", "Ann Lee <a@b.c>", "Ann<a.b@c>", "x@y, Bo <z@w>", "<a@b>", " a@b ,c@d"]
    values = list(shapes)
    for _ in range(count):
        base = list(rng.choice(shapes))
        for _ in range(rng.randint(0, 3)):  # mutate a known shape: insert, replace or drop
            at = rng.randrange(len(base) + 1)
            action = rng.randrange(3)
            if action == 0 or at == len(base):
                base.insert(at, rng.choice(_PIECES))
            elif action == 1:
                base[at] = rng.choice(_PIECES)
            else:
                del base[at]
        values.append("".join(base))
    return values


def test_split_addresses_answers_exactly_as_the_email_parser() -> None:
    # The fast path must be invisible: same pairs, same order, for odd input as for plain.
    for value in _random_values(20000):
        assert split_addresses(value) == getaddresses([value]), value


def test_split_addresses_leaves_only_unusual_values_to_the_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(addresses, "getaddresses", lambda values: asked.extend(values) or [])
    plain = ["a@b.c", "Ann Lee <a.b@c.d>", "x@y, Bo<z+tag@w-1.example>"]
    assert [split_addresses(v) for v in plain] == [getaddresses([v]) for v in plain]
    assert asked == []
    split_addresses('"Lee, Ann" <a@b.c>')
    assert asked == ['"Lee, Ann" <a@b.c>']
