"""Links in a message: the URLs of text and HTML, and the anchors' visible text and target.

Patterns are bounded by characters that cannot occur inside what they match (``<``, ``>``,
quotes, whitespace), so each scan is linear in the size of the body.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_LINKS = 300
_URL = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""", re.IGNORECASE)
_ANCHOR = re.compile(r"<a\b([^<>]*)>([^<]{0,2000})", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Anchor:
    href: str
    text: str


def urls(text: str) -> list[str]:
    """Distinct http(s) URLs, in order of appearance, at most MAX_LINKS."""
    found: dict[str, None] = {}
    if "://" not in text:  # most bodies have no link: skip the regex scan
        return []
    for match in _URL.finditer(text):
        found[match.group(0).rstrip(".,;:!?")] = None
        if len(found) >= MAX_LINKS:
            break
    return list(found)


def anchors(html: str) -> list[Anchor]:
    """``<a href>`` targets with the text directly inside the anchor."""
    found: list[Anchor] = []
    for match in _ANCHOR.finditer(html):
        href = _HREF.search(match.group(1))
        if href is None:
            continue
        target = html_lib.unescape(href.group(1) or href.group(2) or href.group(3) or "")
        found.append(Anchor(target.strip(), html_lib.unescape(match.group(2)).strip()))
        if len(found) >= MAX_LINKS:
            break
    return found


def host_of(url: str) -> str:
    """The lower-cased host of a URL, without ``www.``; empty when there is none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")
