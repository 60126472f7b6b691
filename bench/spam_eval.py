"""Inbound filter evaluation on the labelled set in tests/data/inbound.

Every ``.eml`` under ``ham/``, ``spam/``, ``phishing/`` and ``injection/`` is parsed and scanned
exactly as delivery does (``services.placement.inspect``). Reported:

- the spam filter: precision and recall of "goes to Spam" (score >= 40), taking spam and
  phishing samples as positives and ham as negatives, plus the warnings (20-39);
- phishing: detection rate (any phishing finding) on the phishing samples, and false alarms
  on ham;
- prompt injection: detection rate (injection score > 0) on the injection samples, and false
  alarms on ham;
- scanning cost per message.

    .venv/bin/python bench/spam_eval.py            # summary table
    .venv/bin/python bench/spam_eval.py --verbose  # one line per sample
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agentpost.domain.mime import parse_message
from agentpost.services.placement import inspect

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "inbound"
LABELS = ("ham", "spam", "phishing", "injection")


@dataclass(frozen=True, slots=True)
class Sample:
    label: str
    name: str
    score: int
    phishing: bool
    injection: int
    rules: tuple[str, ...]


def load() -> list[Sample]:
    samples = []
    for label in LABELS:
        for path in sorted((DATA / label).glob("*.eml")):
            raw = path.read_bytes()
            report = inspect(raw, parse_message(raw)).report
            if report is None:
                raise SystemExit(f"{path}: no scan report")
            samples.append(
                Sample(
                    label,
                    path.stem,
                    report.score,
                    bool(report.phishing) or any(a.level != "MEDIUM" for a in report.attachments),
                    report.injection_score,
                    tuple(m.rule_id for m in report.matches),
                )
            )
    return samples


def ratio(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.2f}" if whole else "n/a"


def summary(samples: list[Sample]) -> list[str]:
    by = {label: [s for s in samples if s.label == label] for label in LABELS}
    positives = by["spam"] + by["phishing"]
    flagged = [s for s in samples if s.score >= 40 and s.label != "injection"]
    true_pos = [s for s in flagged if s.label in ("spam", "phishing")]
    phish, inj, ham = by["phishing"], by["injection"], by["ham"]
    rows = [
        ("spam filter precision (spam+phishing vs ham)", ratio(len(true_pos), len(flagged))),
        ("spam filter recall", ratio(len(true_pos), len(positives))),
        ("ham scoring >= 40 (false positives)", str(sum(s.score >= 40 for s in ham))),
        ("ham warnings (20-39)", str(sum(20 <= s.score < 40 for s in ham))),
        ("phishing detected", ratio(sum(s.phishing for s in phish), len(phish))),
        ("phishing false alarms on ham", str(sum(s.phishing for s in ham))),
        ("injection detected", ratio(sum(s.injection > 0 for s in inj), len(inj))),
        ("injection samples sent to Spam", ratio(sum(s.score >= 40 for s in inj), len(inj))),
        ("injection false alarms on ham", str(sum(s.injection > 0 for s in ham))),
    ]
    return ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]


def cost(rounds: int) -> float:
    """Mean milliseconds of ``inspect`` per sample (parsing excluded)."""
    messages = []
    for label in LABELS:
        for path in sorted((DATA / label).glob("*.eml")):
            raw = path.read_bytes()
            messages.append((raw, parse_message(raw)))
    start = time.perf_counter()
    for _ in range(rounds):
        for raw, parsed in messages:
            inspect(raw, parsed)
    return (time.perf_counter() - start) * 1000 / (rounds * len(messages))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    samples = load()
    if args.verbose:
        for s in samples:
            print(f"{s.label:9} {s.name:28} {s.score:4} inj={s.injection:3} {' '.join(s.rules)}")
    print(
        f"{len(samples)} samples: "
        + ", ".join(f"{label} {sum(s.label == label for s in samples)}" for label in LABELS)
    )
    print("\n".join(summary(samples)))
    print(f"| scan cost per message | {cost(args.rounds):.3f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
