"""The outbound guard's labelled evaluation set (tests/data/guard/samples.json), loaded for
the tests and bench/guard.py.

Provider-shaped tokens are stored as fragments and joined on load (``{STRIPE}`` in a text),
so no repository scanner mistakes the set for leaked secrets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agentpost.domain.guard import AttachmentText, Finding, scan_parts

SAMPLES_PATH = Path(__file__).resolve().parents[3] / "tests" / "data" / "guard" / "samples.json"


@dataclass(frozen=True, slots=True)
class Sample:
    id: str
    label: str  # HIGH, MEDIUM or CLEAN
    expect: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[AttachmentText, ...]

    def scan(self) -> list[Finding]:
        return scan_parts(self.subject, self.text, self.html, self.attachments)


def _expand(value: str, fragments: dict[str, list[str]]) -> str:
    for name, parts in fragments.items():
        value = value.replace("{" + name + "}", "".join(parts))
    return value


def load_samples(path: Path = SAMPLES_PATH) -> list[Sample]:
    document = json.loads(path.read_text(encoding="utf-8"))
    fragments: dict[str, list[str]] = document["fragments"]
    samples = []
    for item in document["samples"]:
        attachments = tuple(
            AttachmentText(
                a["filename"],
                a.get("contentType", "application/octet-stream"),
                _expand(a["content"], fragments).encode("utf-8"),
            )
            for a in item.get("attachments", ())
        )
        samples.append(
            Sample(
                id=item["id"],
                label=item["label"],
                expect=tuple(item["expect"]),
                subject=_expand(item.get("subject", ""), fragments),
                text=_expand(item.get("text", ""), fragments),
                html=_expand(item.get("html", ""), fragments),
                attachments=attachments,
            )
        )
    return samples
