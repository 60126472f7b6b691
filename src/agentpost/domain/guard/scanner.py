"""Running the guard's rules over a message: subject and bodies, attachment names, and the
text of text-like attachments.

HTML is read as text the way a recipient would see it: ``<style>``/``<script>`` blocks are
dropped, inline tags vanish without leaving a space (so ``AKI<b>A</b>…`` cannot split a key
past the rules), block tags become line breaks, and entities are decoded. Everything here is
linear in the input: the HTML pass walks the text once with ``str.find``, and each rule is
one left-to-right regex pass (see pii_rules.py for how the patterns stay linear).

On ordinary mail most rules never run: a rule is skipped when a cheap pre-check says it
cannot fire (no digit in the text, none of its keywords), and the checks several rules share
are answered once per text. Which keywords occur is one Aho-Corasick pass over a text of up
to ``_ONE_PASS_LIMIT`` characters (ahocorasick_rs, in Rust): a ``str`` search per keyword, 91
of them, cost as much as the rest of a small message's scan together. The rules
that do run mostly run only near what they need: keyword rules near their keywords, and rules
whose matches hold digits near the text's digits (a number in the subject must not cost a
pass of every digit rule over the whole body).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ahocorasick_rs import AhoCorasick

from agentpost.domain.guard.attachments import attachment_findings, is_text_like
from agentpost.domain.guard.model import DIGIT, LOOKBACK, Finding, TextRule
from agentpost.domain.guard.pii_rules import PII_RULES
from agentpost.domain.guard.secret_rules import CREDENTIAL_RULES, OWNER_RULES, SYSTEM_RULES

TEXT_RULES: tuple[TextRule, ...] = PII_RULES + CREDENTIAL_RULES + SYSTEM_RULES + OWNER_RULES
_BLOCK_TAGS = frozenset(
    [
        "p",
        "br",
        "div",
        "tr",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "td",
        "th",
        "hr",
        "pre",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "title",
    ]
)
_DROPPED_BLOCKS = ("style", "script")
_DIGIT_RUN = re.compile(r"\d+")
# Digit windows are worth it up to a digit (or run) per 64 characters; a short text gets at
# least this many. Windows closer than _MERGE_GAP are scanned as one.
_MIN_DIGIT_BUDGET = 32
_MERGE_GAP = 32

# Where a rule runs: windows (start, end) in order, or None for the whole text.
Spans = list[tuple[int, int]] | None

_HINTS = tuple(sorted({hint for rule in TEXT_RULES for hint in rule.hints}))
_HINT_SET = frozenset(_HINTS)
_HINT_SEARCH = AhoCorasick(list(_HINTS))
# The one pass lists every occurrence, which on a long run of "=" is one per character:
# longer texts ask about each keyword on its own instead (still linear, and rare).
_ONE_PASS_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class AttachmentText:
    """One attachment as the scanner sees it: its name, content type and bytes."""

    filename: str
    content_type: str
    content: bytes


def _tag_name(tag: str) -> str:
    name = tag.lstrip("/!? \t\r\n")
    end = 0
    while end < len(name) and (name[end].isalnum() or name[end] in "-:"):
        end += 1
    return name[:end].lower()


def html_as_text(source: str) -> str:
    """HTML reduced to the text a reader sees (not a sanitizer: for scanning only)."""
    lowered = source.lower()
    out: list[str] = []
    position, size = 0, len(source)
    while position < size:
        start = source.find("<", position)
        if start < 0:
            out.append(source[position:])
            break
        out.append(source[position:start])
        end = source.find(">", start + 1)
        if end < 0:  # an unclosed "<": the rest is text
            out.append(source[start:])
            break
        name = _tag_name(source[start + 1 : end])
        position = end + 1
        if name in _DROPPED_BLOCKS and not source[start + 1 : end].startswith("/"):
            close = lowered.find(f"</{name}", position)
            position = size if close < 0 else max(lowered.find(">", close), close) + 1
            continue
        if name in _BLOCK_TAGS:
            out.append("\n")
    return html.unescape("".join(out))


def scan_text(text: str, where: str, rules: Iterable[TextRule] = TEXT_RULES) -> list[Finding]:
    """Every rule that matches ``text``, once each, in rule order."""
    if not text:
        return []
    facts = _TextFacts(text)
    found: list[Finding] = []
    for rule in rules:
        if _fires(rule, facts):
            found.append(Finding(rule.id, rule.family, rule.severity, rule.description, where))
    return found


class _TextFacts:
    """One text as the rules see it, with what several rules ask about it (does a gate find
    anything, does a hint occur, where are the digits) answered once: most rules share the
    digit gate, and on a small message these questions cost more than the patterns that
    survive them."""

    __slots__ = (
        "_chars",
        "_gates",
        "_hints",
        "_near",
        "_present",
        "aligned",
        "ascii",
        "has_digit",
        "lowered",
        "runs",
        "text",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.lowered = text.lower()
        # A few characters change length when lowered: hint positions would not line up,
        # and keyword rules then run over the whole text.
        self.aligned = len(self.lowered) == len(text)
        self._gates: dict[tuple[int, int | None], tuple[re.Pattern[str], bool]] = {}
        self._hints: dict[str, bool] = {}
        self._chars: dict[str, bool] = {}
        self._present: frozenset[str] | None = None  # the rules' keywords found, once asked
        # On ASCII-only text the rules run their ASCII twins (model.ascii_twin).
        self.ascii = text.isascii()
        # Every text meets the digit gate first (the first rules need digits): look once.
        self.runs = _digit_runs(text, self.ascii)
        self.has_digit = self.runs != []
        self._near: dict[int, Spans] = {}

    def gates_open(self, gates: tuple[re.Pattern[str], ...], reach: int | None) -> bool:
        """Whether every gate finds something where the rule runs: near digits when ``reach``
        is set (a gate's match lies inside the rule's, and the rule's lies there)."""
        for gate in gates:  # a plain loop, as in _any_hint
            if gate is DIGIT:
                if not self.has_digit:
                    return False
                continue
            spans = None if reach is None else self.near_digits(reach)
            # Keyed by where it was searched (rules with different reaches share a whole-text
            # answer), and by identity: hashing a compiled pattern hashes its whole program.
            key = (id(gate), None if spans is None else reach)
            known = self._gates.get(key)
            if known is None or known[0] is not gate:
                known = self._gates[key] = (gate, _searches(gate, self.text, spans))
            if not known[1]:
                return False
        return True

    def near_digits(self, reach: int) -> Spans:
        """Windows reaching ``reach`` characters either side of every digit run, merged; None
        (the whole text) when there are too many runs."""
        if self.runs is None:
            return None
        near = self._near.get(reach)
        if near is None:
            near = self._near[reach] = _around(self.runs, reach, len(self.text))
        return near

    def has_hint(self, hint: str) -> bool:
        """Whether ``hint`` occurs in the lowered text."""
        if len(self.lowered) <= _ONE_PASS_LIMIT and hint in _HINT_SET:
            if self._present is None:
                found = _HINT_SEARCH.find_matches_as_indexes(self.lowered, overlapping=True)
                self._present = frozenset(_HINTS[index] for index, _start, _end in found)
            return hint in self._present
        present = self._hints.get(hint)
        if present is None:
            present = self._hints[hint] = self._has_key_char(hint) and hint in self.lowered
        return present

    def _has_key_char(self, hint: str) -> bool:
        # Searching for one character is a memchr, several times cheaper than a substring
        # search: a hint with a rare character ("_", "=", "/") is ruled out by that alone.
        key = _key_char(hint)
        if key is None:
            return True
        present = self._chars.get(key)
        if present is None:
            present = self._chars[key] = key in self.lowered
        return present


def _digit_runs(text: str, ascii_only: bool) -> Spans:
    """Where ``\\d`` matches in ``text``, as maximal runs; None past a budget of one digit (or
    run) per 64 characters, where windows would cover most of the text anyway."""
    budget = max(_MIN_DIGIT_BUDGET, len(text) >> 6)
    if not ascii_only:
        runs: list[tuple[int, int]] = []
        for match in _DIGIT_RUN.finditer(text):
            runs.append(match.span())
            if len(runs) > budget:
                return None
        return runs
    # In ASCII text ``\d`` is 0-9, and finding each digit with str.find (a memchr) costs far
    # less than a regex pass: about 1 µs against 15 on a 2 KB body with one number in it. The
    # ``in`` operator is cheaper still (no method call), for the common text without digits.
    for digit in "0123456789":
        if digit in text:
            break
    else:
        return []
    positions: list[int] = []
    find = text.find
    for digit in "0123456789":
        index = find(digit)
        while index >= 0:
            if not budget:
                return None
            budget -= 1
            positions.append(index)
            index = find(digit, index + 1)
    return _as_runs(positions) if positions else []


def _as_runs(positions: list[int]) -> list[tuple[int, int]]:
    """Digit positions (unsorted, at least one) as maximal runs of consecutive ones."""
    positions.sort()
    runs = [(positions[0], positions[0] + 1)]
    for index in positions[1:]:
        if runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _around(runs: list[tuple[int, int]], reach: int, size: int) -> list[tuple[int, int]]:
    """Windows ``reach`` characters either side of each run, merged when they overlap or
    nearly touch (scanning a short gap costs less than another regex call).

    Exact for a rule whose every match holds a digit and reads at most ``reach`` characters
    from its start (TextRule.digit_reach): each match lies inside the window of its digits, so
    none straddles a window's start or end, and matching from any start before a window's last
    digit reads nothing past its end. The windows' matches are then the whole text's."""
    spans: list[tuple[int, int]] = []
    for start, end in runs:
        low, high = max(0, start - reach), min(size, end + reach)
        if spans and low <= spans[-1][1] + _MERGE_GAP:
            spans[-1] = (spans[-1][0], high)
        else:
            spans.append((low, high))
    return spans


def _searches(gate: re.Pattern[str], text: str, spans: Spans) -> bool:
    if spans is None:
        return gate.search(text) is not None
    for start, end in spans:  # noqa: SIM110 (a plain loop, as in _any_hint)
        if gate.search(text, start, end) is not None:
            return True
    return False


@functools.cache
def _key_char(hint: str) -> str | None:
    """The first character of a hint that is not a letter or digit, if any (usually rarer)."""
    return next((char for char in hint if not char.isalnum() and char != " "), None)


def _fires(rule: TextRule, facts: _TextFacts) -> bool:
    ascii_only, reach = facts.ascii, rule.digit_reach
    if rule.gates and not facts.gates_open(rule.ascii_gates if ascii_only else rule.gates, reach):
        return False
    near = None if reach is None else facts.near_digits(reach)
    plain = rule.ascii_plain if ascii_only else rule.plain
    if plain is not None and _matches(rule, plain, facts.text, near):
        return True
    if rule.hints and facts.aligned and not _any_hint(rule, facts):
        return False
    spans = _spans(facts.lowered, rule) if facts.aligned else None
    pattern = rule.ascii_pattern if ascii_only else rule.pattern
    # Without keyword windows (no keywords, or too many), the digit windows if it has them.
    return _matches(rule, pattern, facts.text, near if spans is None else spans)


def _any_hint(rule: TextRule, facts: _TextFacts) -> bool:
    # A plain loop: on a small text, any() over a generator costs more than the tests inside.
    for hint in rule.hints:  # noqa: SIM110
        if facts.has_hint(hint):
            return True
    return False


def _spans(lowered: str, rule: TextRule) -> Spans:
    """Where a keyword rule can match: merged windows around its hints' occurrences, or None
    (the whole text) when the rule has no hints or they occur too often to be worth it.

    Case-insensitive patterns cannot use the regex engine's fast literal search, so running
    them only near a keyword (found by ``str.find``) is what keeps typical mail fast."""
    if not rule.hints or rule.reach is None:
        return None
    size = len(lowered)
    budget = max(16, size // 512)
    starts: list[int] = []
    for hint in rule.hints:
        index = lowered.find(hint)
        while index >= 0:
            starts.append(index)
            if len(starts) > budget:
                return None
            index = lowered.find(hint, index + 1)
    spans: list[tuple[int, int]] = []
    for index in sorted(starts):
        start, end = max(0, index - LOOKBACK), min(size, index + rule.reach)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _matches(rule: TextRule, pattern: re.Pattern[str], text: str, spans: Spans) -> bool:
    size = len(text)
    for start, end in spans if spans is not None else [(0, size)]:
        for match in pattern.finditer(text, start, end):
            if match.end() == end and end < size:
                # Cut by the window's edge: judge this one on the whole text instead.
                return _matches(rule, pattern, text, None)
            if rule.validator is None or rule.validator(match):
                return rule.requires is None or rule.requires.search(text) is not None
    return False


def scan_parts(
    subject: str, text: str, html_body: str, attachments: Iterable[AttachmentText]
) -> list[Finding]:
    """The findings for a whole message, attachments included (each reported by name)."""
    blob = "\n".join(part for part in (subject, text, html_as_text(html_body)) if part)
    found = scan_text(blob, "message")
    for item in attachments:
        where = f"attachment {item.filename}"
        found.extend(attachment_findings(item.filename))
        if is_text_like(item.filename, item.content_type):
            content = item.content.decode("utf-8", errors="replace")
            found.extend(scan_text(content, where))
    return found
