"""Outbound guard evaluation: precision and recall on the labelled set, and scanning speed.

The labelled set is tests/data/guard/samples.json (HIGH, MEDIUM and CLEAN outbound mail,
near-misses included). Reported:

- per rule family: precision and recall of "a finding of this family at MEDIUM or above",
  taking the samples whose expected rules belong to the family as positives;
- the hold decision for a stranger (default policy): HIGH samples held (recall) and clean
  samples held (must be 0);
- the CPU cost of one ``services.guard.scan`` call (what every send pays) on 2 KB messages:
  everyday prose with dates and amounts, the body bench/outbound.py sends (with and without a
  number in the subject: outbound.py's subjects carry one), and the clean samples (dense in
  guard keywords);
- scanning speed in MB/s (CPU time) of ``domain.guard.scan_parts`` on large bodies: ordinary
  mail text (the clean samples repeated, 1, 5 and 20 MB), the same with one secret near the
  end, and the 5 MB adversarial body of tests/domain/test_guard_linear.py.

    .venv/bin/python bench/guard.py             # everything
    .venv/bin/python bench/guard.py --no-speed  # just the evaluation
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from agentpost.domain.addresses import Address
from agentpost.domain.guard import TEXT_RULES, Family, Severity, scan_parts
from agentpost.domain.guard.policy import Action, GuardPolicy, RecipientClass, action_for
from agentpost.domain.mime import OutgoingMessage, ParsedMessage, build_raw, parse_message
from agentpost.services import guard
from agentpost.testing.guard_samples import Sample, load_samples

MB = 1_000_000
SMALL = 2048
# Everyday mail: no secrets, a few dates, times and amounts (numbers keep the digit rules busy).
PROSE = (
    "Hi Sam,\n\nThe design review moved to 14 March at 10:30, room 4B. The budget for the second "
    "quarter is now $12,500 (up from $9,800), and invoice INV-2291 was paid on 2026-02-27. "
    "Version 3.2 of the draft is attached; section 5 lists what changed since last week. Could "
    "you look at the timeline before Friday? If anything is unclear we can go over it on a "
    "call.\n\nThanks,\nAlex\n\n"
)
SUBJECT = "Notes from the design review"
NUMBERED_SUBJECT = "Bench message 17"
RULE_FAMILY = {rule.id: rule.family for rule in TEXT_RULES}


def family_of(rule_id: str) -> Family:
    return RULE_FAMILY.get(rule_id, Family.attachment_risk)


def evaluate(samples: list[Sample], verbose: bool) -> None:
    positives: Counter[Family] = Counter()
    flagged: Counter[Family] = Counter()
    hits: Counter[Family] = Counter()
    held: Counter[str] = Counter()
    for sample in samples:
        findings = sample.scan()
        expected = {family_of(r) for r in sample.expect}
        found = {f.family for f in findings if f.severity is not Severity.low}
        for family in expected:
            positives[family] += 1
        for family in found:
            flagged[family] += 1
            hits[family] += family in expected
        action = action_for(GuardPolicy(), findings, {RecipientClass.stranger})[0]
        held[sample.label] += action is Action.hold
        if verbose:
            rules = ",".join(f.rule_id for f in findings) or "-"
            print(f"{sample.label:6} {sample.id:22} {action.value:5} {rules}")
    print("| family | samples | flagged | precision | recall |")
    print("|---|---|---|---|---|")
    for family in Family:
        precision = hits[family] / flagged[family] if flagged[family] else 1.0
        recall = hits[family] / positives[family] if positives[family] else 1.0
        print(
            f"| {family.value} | {positives[family]} | {flagged[family]} | "
            f"{precision:.2f} | {recall:.2f} |"
        )
    labels = Counter(s.label for s in samples)
    print()
    print(f"HIGH samples held for a stranger: {held['HIGH']}/{labels['HIGH']}")
    print(f"MEDIUM samples held: {held['MEDIUM']}/{labels['MEDIUM']} (they should only warn)")
    print(f"CLEAN samples held: {held['CLEAN']}/{labels['CLEAN']}")


def ordinary_body(samples: list[Sample], size: int) -> str:
    """Clean outbound prose, repeated to ``size`` characters."""
    paragraph = "\n\n".join(s.text for s in samples if s.label == "CLEAN" and s.text)
    return (paragraph * (size // len(paragraph) + 1))[:size]


def mb_per_second(text: str, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        scan_parts("subject", text, "", [])
        best = min(best, time.process_time() - start)
    return len(text.encode("utf-8")) / MB / best


def small_message(text: str, subject: str) -> tuple[bytes, ParsedMessage]:
    """A text-only message as a send builds and parses it before the guard runs."""
    out = OutgoingMessage(
        sender=Address(address="agent@example.com"),
        to=[Address(address="someone@example.org")],
        subject=subject,
        text=text,
    )
    raw = build_raw(out, message_id="<bench@example.com>", date=datetime.now(UTC))
    return raw, parse_message(raw)


def microseconds_per_scan(
    text: str, subject: str = SUBJECT, calls: int = 300, repeats: int = 5
) -> float:
    raw, parsed = small_message(text, subject)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            guard.scan(raw, parsed)
        best = min(best, (time.process_time() - start) / calls)
    return best * 1e6


def small_messages(samples: list[Sample]) -> None:
    print("| 2 KB message body | CPU per guard.scan |")
    print("|---|---|")
    outbound = ("x" * 75 + "\n") * (SMALL // 76)
    outbound_name = 'bench/outbound.py\'s body, ("x"*75+"\\n")*26'
    # A number anywhere (outbound.py's subjects carry one) wakes every rule that needs digits.
    prose = (PROSE * (SMALL // len(PROSE) + 1))[:SMALL]
    rows = [
        ("everyday prose with dates and amounts", prose, SUBJECT),
        (outbound_name, outbound, SUBJECT),
        (f'{outbound_name}, subject "{NUMBERED_SUBJECT}"', outbound, NUMBERED_SUBJECT),
        ("clean samples (dense in guard keywords)", ordinary_body(samples, SMALL), SUBJECT),
    ]
    for name, body, subject in rows:
        print(f"| {name} | {microseconds_per_scan(body, subject):.0f} µs |")


def speed(samples: list[Sample]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "domain"))
    from test_guard_linear import adversarial  # the same body the linearity test uses

    print("| body | size | MB/s |")
    print("|---|---|---|")
    for size_mb in (1, 5, 20):
        body = ordinary_body(samples, size_mb * MB)
        print(f"| ordinary mail text | {size_mb} MB | {mb_per_second(body):.1f} |")
    secret = ordinary_body(samples, 5 * MB - 60) + "\nkey AKIAIOSFODNN7EXAMPLE\n"
    print(f"| ordinary text, one secret at the end | 5 MB | {mb_per_second(secret):.1f} |")
    for size_mb in (0.5, 5):
        body = adversarial(int(size_mb * MB))
        print(f"| adversarial (all families) | {size_mb} MB | {mb_per_second(body):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="one line per sample")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed runs")
    args = parser.parse_args()
    samples = load_samples()
    evaluate(samples, args.verbose)
    if not args.no_speed:
        print()
        small_messages(samples)
        print()
        speed(samples)


if __name__ == "__main__":
    main()
