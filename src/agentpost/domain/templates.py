"""Mail templates: ``{{ name }}`` placeholders filled from a mapping, and nothing else.

The renderer is a single regular-expression substitution: there are no expressions, filters,
attribute lookups or loops, so a template can never run code or read anything but the values
it is given. Every placeholder must have a value; the error lists all missing names at once,
in the order they first appear. In HTML bodies the values are escaped, so a variable cannot
inject markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VALUE_CHARS = 100_000


class TemplateError(ValueError):
    """A template could not be filled; ``missing`` names the absent variables, if any."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def placeholders(*sources: str) -> list[str]:
    """Every placeholder name in ``sources``, once each, in order of first appearance."""
    seen: dict[str, None] = {}
    for source in sources:
        for match in PLACEHOLDER.finditer(source):
            seen.setdefault(match.group(1), None)
    return list(seen)


def value_text(name: str, value: object) -> str:
    """A variable's value as text: strings as they are, numbers and booleans in JSON form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
        if len(text) > MAX_VALUE_CHARS:
            raise TemplateError(f"variable {name} is longer than {MAX_VALUE_CHARS} characters")
        return text
    raise TemplateError(
        f"variable {name} must be a string, number or boolean, not {type(value).__name__}"
    )


def check_missing(names: Iterable[str], values: Mapping[str, object]) -> None:
    missing = tuple(name for name in names if values.get(name) is None)
    if missing:
        listed = ", ".join(missing)
        raise TemplateError(
            f"missing template variable{'s' if len(missing) > 1 else ''}: {listed}; "
            f"pass them in variables, e.g. {{{missing[0]!r}: '...'}}",
            missing,
        )


def fill(source: str, values: Mapping[str, str], *, escape: bool = False) -> str:
    """Substitute every placeholder in one pass; substituted text is never re-scanned."""

    def replace(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return html.escape(value) if escape else value

    return PLACEHOLDER.sub(replace, source)


def render(subject: str, text: str, html_body: str, variables: Mapping[str, object]) -> Rendered:
    """Fill a template's subject, text and HTML body; raises ``TemplateError``."""
    names = placeholders(subject, text, html_body)
    check_missing(names, variables)
    values = {name: value_text(name, variables[name]) for name in names}
    return Rendered(
        subject=fill(subject, values),
        text=fill(text, values),
        html=fill(html_body, values, escape=True),
    )


# -- signatures ----------------------------------------------------------------------------

SIGNATURE_SEPARATOR = "-- "  # RFC 3676 §4.3: "-- " alone on a line starts a signature


def with_signature(text: str, html_body: str, sig_text: str, sig_html: str) -> tuple[str, str]:
    """Bodies with a signature appended below the separator; HTML gets ``sig_html`` or the
    escaped text signature. A body that already ends with the signature is left alone, and
    an HTML-only message gets no text part."""
    sig_text = sig_text.strip("\n")
    new_text = text
    if sig_text and (text or not html_body) and not text.rstrip().endswith(sig_text.rstrip()):
        new_text = f"{text.rstrip()}\n\n{SIGNATURE_SEPARATOR}\n{sig_text}\n".lstrip("\n")
    if not html_body:
        return new_text, html_body
    block = sig_html.strip() or html.escape(sig_text).replace("\n", "<br>\n")
    if not block or block in html_body:
        return new_text, html_body
    addition = f'<div class="signature"><br>{SIGNATURE_SEPARATOR}<br>\n{block}</div>'
    closing = html_body.lower().rfind("</body>")
    if closing == -1:
        return new_text, f"{html_body}\n{addition}"
    return new_text, f"{html_body[:closing]}{addition}\n{html_body[closing:]}"
