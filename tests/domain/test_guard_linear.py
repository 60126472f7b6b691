"""The guard scans in time linear in its input, even on bodies built to make regexes
backtrack: a 5 MB adversarial body costs about ten times a 0.5 MB one, never a hundred.

Each family gets a segment of near-misses (prefixes that almost complete a rule, repeated
without the completing part), plus long runs of single characters that sit inside the rules'
character classes. Segments grow with the body, so a quadratic rule cannot hide in a short one.
CPU time (not wall time) is compared, best of a few runs, with a generous bound.
"""

from __future__ import annotations

import itertools
import time

from agentpost.domain.guard import TEXT_RULES, html_as_text
from agentpost.domain.guard.scanner import scan_text

NEAR_MISSES = {
    "pii": [
        "1234 5678 ",
        "123-45-",
        "ssn 12345678 ",
        "account number 12345 ",
        "DE89 3704 ",
        "passport ABC ",
        "1BvBMSEYstWetqTFn5Au4m4GFg7 ",
        "bc1qqqqqqqqq ",
        "0x12345 ",
        "date of birth: 12/",
        "security question xxxxxxxxxxxxxxxxxxx ",
        "+1 555 ",
        "wire ",
        "medicare ",
        "driver's license ",
        "EIN 12-",
        "ITIN 9",
        "alien A-1234 ",
        "pin: 12 ",
        "swift: ABCD ",
        "(555) 12",
        "mother's maiden name ",
    ],
    "credential": [
        "eyJ" + "a" * 40 + ".",
        "sk_" + "a" * 10 + " ",
        "AKIA" + "A" * 10 + " ",
        "password: ab ",
        "-----BEGIN ",
        "Bearer abc ",
        "postgres://user:" + "p" * 30 + " ",
        "ghp_abc ",
        "DB_USER=x\nz\n",
        "seed phrase: " + "abc " * 8,
        "backup codes: 1234 ",
        "user: x" + " " * 20,
        "access_token=abc ",
        "vpn " + "x" * 60 + " ",
        "xoxb-12 ",
        "AIza123 ",
        "aws_secret_key = abc ",
        "hooks.slack.com/services/ ",
        "2fa code: ",
    ],
    "system_internal": ["10.1.1.", "192.168.", "/home", "A_KEY = ", "A_" * 20, "C:\\Users"],
    "owner_privacy": ["my owner ", "the person who owns ", "my human is ", "my owner's "],
    "runs": [
        "a" * 4096,
        "1" * 4096,
        " " * 4096,
        "A" * 4096,
        "_" * 4096,
        "-" * 4096,
        "=\n" * 2048,
        "eyJ" * 1365,
        "<" * 4096,
        "1 " * 2048,
        "ab1-" * 1024,
    ],
}
SMALL = 500_000
LARGE = 5_000_000


def adversarial(size: int) -> str:
    """One segment per family (and one of long runs), each ``size / segments`` long."""
    share = size // len(NEAR_MISSES)
    parts = []
    for units in NEAR_MISSES.values():
        chunk: list[str] = []
        length = 0
        for unit in itertools.cycle(units):
            if length >= share:
                break
            chunk.append(unit)
            length += len(unit)
        parts.append("".join(chunk)[:share])
    return "\n".join(parts)


def cpu_seconds(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        scan_text(text, "message")
        best = min(best, time.process_time() - start)
    return best


def test_scanning_time_grows_linearly_on_adversarial_bodies() -> None:
    small, large = adversarial(SMALL), adversarial(LARGE)
    assert len(large) >= 9 * len(small)
    small_cost = cpu_seconds(small, repeats=3)
    large_cost = cpu_seconds(large, repeats=1)
    # Linear: about 10x. Quadratic backtracking would be about 100x.
    assert large_cost / max(small_cost, 1e-3) < 30, (small_cost, large_cost)


def test_every_rule_is_linear_on_its_own() -> None:
    """Per rule, so one slow rule cannot hide behind the total."""
    small, large = adversarial(SMALL // 5), adversarial(LARGE // 5)
    patterns = [(r.id, r.pattern) for r in TEXT_RULES]
    patterns += [(r.id, r.plain) for r in TEXT_RULES if r.plain is not None]
    for rule_id, pattern in patterns:
        costs = []
        for text in (small, large):
            best = float("inf")
            for _ in range(2):
                start = time.process_time()
                for _match in pattern.finditer(text):
                    pass
                best = min(best, time.process_time() - start)
            costs.append(best)
        assert costs[1] / max(costs[0], 2e-3) < 30, (rule_id, costs)


def test_html_reduction_is_linear() -> None:
    unit = "<b>x</b><style>" + "y" * 50 + "<p " + "&amp;" * 5
    small, large = unit * (SMALL // len(unit)), unit * (LARGE // len(unit))
    costs = []
    for text in (small, large):
        start = time.process_time()
        html_as_text(text)
        costs.append(time.process_time() - start)
    assert costs[1] / max(costs[0], 1e-3) < 30, costs
