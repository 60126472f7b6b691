"""Email addresses: parsing, validation and the agent-name rules.

Validation is deliberately practical rather than the full RFC 5322 grammar: a dot-atom local
part (RFC 5322 §3.4.1) and a domain of LDH labels, which is what every relay accepts. Special-use
domains such as ``localhost`` and ``.test`` are valid here: agents live on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formataddr, getaddresses

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS_RE = re.compile(rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})*$")
AGENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ADDRESS_LENGTH = 254  # RFC 5321 §4.5.3.1.3 path limit less the angle brackets


class AddressError(ValueError):
    """An address or address list that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: an optional display name and the addr-spec."""

    address: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]

    def formatted(self) -> str:
        return formataddr((self.name, self.address)) if self.name else self.address

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address}


# CR, LF and NUL, plus every other character ``str.splitlines`` breaks on: Python's email
# package refuses header values containing any of them, so they must be caught as input errors.
_LINE_BREAKS = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def has_line_break(value: str) -> bool:
    """True when a value would break out of its header line (CR, LF, NUL or a Unicode break)."""
    return not _LINE_BREAKS.isdisjoint(value)


def is_valid_address(address: str) -> bool:
    return len(address) <= MAX_ADDRESS_LENGTH and _ADDRESS_RE.match(address) is not None


def normalize(address: str) -> str:
    """Canonical form for comparisons: the domain is case-insensitive, so lower it.

    The local part is case-sensitive by RFC 5321 §2.4, but every real server treats it
    case-insensitively and so do we: agent names are unique regardless of case.
    """
    return address.strip().lower()


# The shapes nearly every header and API field holds: bare addresses and "Plain Name <address>",
# comma-separated. ``getaddresses`` is a pure-Python RFC 5322 parser costing tens of µs per
# field, a noticeable share of a send; these take a regex match. Only text these patterns
# describe completely is answered here (the parser gives the same pairs for it: see
# tests/domain/test_addresses.py); anything else (quotes, comments, groups, odd dots or
# spacing) goes to the parser.
_ATOMS = r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
_PLAIN_ENTRY = re.compile(
    rf"(?:([A-Za-z0-9_-]+(?: [A-Za-z0-9_-]+)*) ?<({_ATOMS}@{_ATOMS})>|({_ATOMS}@{_ATOMS}))"
)


def split_addresses(value: str) -> list[tuple[str, str]]:
    """``email.utils.getaddresses([value])``: (display name, address) pairs, in order."""
    pairs: list[tuple[str, str]] = []
    for entry in value.split(","):
        plain = _PLAIN_ENTRY.fullmatch(entry.strip(" \t"))
        if plain is None:
            return getaddresses([value])
        name, named, bare = plain.groups()
        pairs.append(("", bare) if bare is not None else (name, named))
    return pairs


def parse_address_list(value: str | list[str] | None, *, field: str) -> list[Address]:
    """Parse ``"a@x, B <b@y>"`` or a list of such strings into validated addresses.

    Raises AddressError naming the field and the offending entry.
    """
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    result: list[Address] = []
    for item in items:
        if not isinstance(item, str):
            raise AddressError(f"{field} must be a string or a list of strings")
        if has_line_break(item):
            raise AddressError(f"{field} contains a line break; addresses must be on one line")
        if not item.strip():
            continue
        for name, addr in split_addresses(item):
            addr = addr.strip()
            if not is_valid_address(addr):
                shown = addr or item.strip()
                raise AddressError(f"{field} has an invalid email address: {shown!r}")
            result.append(Address(address=addr, name=name.strip()))
    return result


def dedupe(addresses: list[Address], *, exclude: set[str] | None = None) -> list[Address]:
    """Keep the first occurrence of each address (case-insensitively), minus ``exclude``."""
    seen = set(exclude or ())
    result = []
    for item in addresses:
        key = normalize(item.address)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


def check_agent_name(name: str) -> str:
    """Agent names become local parts: letters, digits, '.', '_' and '-', at most 64."""
    if not isinstance(name, str) or not AGENT_NAME_RE.match(name):
        raise AddressError(
            "name must be 1-64 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if name.endswith(".") or ".." in name:
        raise AddressError("name must not end with '.' or contain '..'")
    return name
