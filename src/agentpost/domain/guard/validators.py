"""Checksums that turn "looks like a number" into "is one": fewer false alarms, no guessing.

Each takes the matched text (digits and separators) and returns whether it is a valid
instance: Luhn for payment cards (ISO/IEC 7812-1 Annex B), ISO 13616 mod-97 for IBANs,
Base58Check and Bech32 (BIP 173) for Bitcoin addresses, and the US SSA structure rules for
Social Security numbers. All run in time linear in their (short) input.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

TextCheck = Callable[[str], bool]

_NON_DIGITS = re.compile(r"\D")
_SEPARATORS = re.compile(r"([ -])")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
# Issuer prefixes of the card networks that matter (IIN ranges, ISO/IEC 7812).
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5|4[4-9])|3(?:0[0-5]|[68])|35)")


def digits_of(text: str) -> str:
    return _NON_DIGITS.sub("", text)


def luhn_ok(number: str) -> bool:
    """The Luhn mod-10 check over a string of digits."""
    total = 0
    for position, char in enumerate(reversed(number)):
        value = ord(char) - 48
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_ok(number: str) -> bool:
    if not 13 <= len(number) <= 19 or len(set(number)) == 1:
        return False
    return _CARD_PREFIX.match(number) is not None and luhn_ok(number)


def _card_layout(lengths: list[int]) -> bool:
    """How cards are written: one run, groups of four (the last may be shorter), or the
    4-6-5 / 4-6-4 layouts of American Express and Diners Club."""
    if len(lengths) == 1:
        return True
    fours = all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4
    return fours or lengths in ([4, 6, 5], [4, 6, 4])


def is_card_number(text: str) -> bool:
    """13-19 digits laid out like a card, a known network prefix and a valid Luhn digit.

    A grouped run may carry more digits than the card ("4242-4242-4242-4242 12/26"), so
    each prefix ending at a group boundary is tried, as long as its separators agree.
    """
    pieces = _SEPARATORS.split(text)  # digits, separator, digits, ...
    groups, separators = pieces[0::2], pieces[1::2]
    for end in range(len(groups), 0, -1):
        if len(set(separators[: end - 1])) > 1:
            continue
        if _card_layout([len(g) for g in groups[:end]]) and _card_ok("".join(groups[:end])):
            return True
    return False


def is_iban(text: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    remainder = 0
    for char in rearranged:
        value = int(char, 36)  # "0".."9" → 0..9, "A".."Z" → 10..35
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


def is_ssn(text: str) -> bool:
    """Area 001-899 except 666, group 01-99, serial 0001-9999 (SSA numbering rules)."""
    number = digits_of(text)
    if len(number) != 9:
        return False
    area, group, serial = number[:3], number[3:5], number[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def is_base58check(text: str) -> bool:
    """A legacy Bitcoin address: Base58 that decodes to 25 bytes with a valid checksum."""
    value = 0
    for char in text:
        index = _BASE58.find(char)
        if index < 0:
            return False
        value = value * 58 + index
    leading = len(text) - len(text.lstrip("1"))
    try:
        body = value.to_bytes(25 - leading, "big") if leading < 25 else b""
    except OverflowError:
        return False
    data = b"\x00" * leading + body
    if len(data) != 25:
        return False
    check = hashlib.sha256(hashlib.sha256(data[:-4]).digest()).digest()[:4]
    return check == data[-4:]


def _bech32_polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit in range(5):
            checksum ^= generator[bit] if (top >> bit) & 1 else 0
    return checksum


def is_bech32_address(text: str) -> bool:
    """A SegWit address (``bc1…``): Bech32 or Bech32m checksum (BIP 173, BIP 350)."""
    hrp, _, data = text.lower().rpartition("1")
    if hrp != "bc" or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    values += [_BECH32.index(c) for c in data]
    return _bech32_polymod(values) in (1, 0x2BC830A3)


def has_digit(text: str) -> bool:
    return any(char.isdigit() for char in text)


_TRAILING = ".,;:!?)]}\"'"


def looks_like_secret_value(text: str) -> bool:
    """A password-ish token, not a word: a digit or a symbol besides letters, not a mask."""
    token = text.rstrip(_TRAILING)
    if len(token) < 4 or not any(char.isalnum() for char in token):
        return False
    return any(not char.isalpha() for char in token)
