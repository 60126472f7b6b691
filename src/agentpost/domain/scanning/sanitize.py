"""The sanitizer: what an agent reads is stripped of text it would see but a person would not.

1. Invisible Unicode (zero-width characters, bidi controls, soft hyphens, word joiners and the
   tag block U+E0000-E007F, which can spell out hidden ASCII) is removed from text and HTML.
2. Hidden HTML is removed: elements styled invisible (display:none, visibility:hidden,
   opacity 0, zero or tiny font size, white text, off-screen positions, the ``hidden``
   attribute), scripts, hidden iframes, comments that talk about instructions or prompts, and
   ``javascript:``/``data:`` link targets.
3. Prompt-injection phrasing left in the text is marked, not removed, so the agent sees it was
   flagged.

Every pass is a single forward scan (no regex with nested or overlapping repetition), so the
cost stays linear in the size of the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agentpost.domain.scanning.model import Detection

INVISIBLE = (
    ("invisible_tags", "Unicode tag characters (can hide instructions)", "[\U000e0000-\U000e007f]"),
    ("zero_width", "zero-width characters", "[\u200b-\u200d\ufeff]"),
    ("bidi_control", "bidirectional text controls", "[\u202a-\u202e\u2066-\u2069\u200e\u200f]"),
    ("soft_hyphen", "soft hyphens", "\u00ad"),
    ("word_joiner", "word joiners and invisible operators", "[\u2060-\u2064]"),
)
_INVISIBLE = [(kind, desc, re.compile(pattern)) for kind, desc, pattern in INVISIBLE]
_OPEN_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9]{0,30})\b([^<>]*)>")
_STYLE = re.compile(r"""style\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$)"
    r"|font-size\s*:\s*(?:0|1)(?:\.\d+)?\s*(?:px|pt|em|rem|%)?\s*(?:;|$)"
    r"|(?:left|top|text-indent)\s*:\s*-\d{4,}|clip\s*:\s*rect\(\s*0",
)
_WHITE = r"(?:#fff(?:fff)?\b|white\b|rgb\(\s*255\s*,\s*255\s*,\s*255\s*\))"
_WHITE_TEXT = re.compile(rf"(?<![-\w])color\s*:\s*{_WHITE}")
_WHITE_BACKGROUND = re.compile(rf"background(?:-color)?\s*:\s*{_WHITE}")
_COLOURED_CONTAINERS = frozenset({"a", "button", "td", "th", "table", "tr"})
_VOID = frozenset({"img", "br", "hr", "input", "meta", "link", "area", "base", "col", "wbr"})
_DANGEROUS_TARGET = re.compile(
    r"""(\b(?:href|src|action|formaction)\s*=\s*["']?)\s*(?:javascript|vbscript|data)\s*:""",
    re.IGNORECASE,
)
_COMMENT_WORDS = re.compile(r"ignore|system|instruction|prompt|inject|assistant|\bai\b", re.I)
_INJECTION_PHRASES = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) "
    r"(?:instructions|prompts|rules|messages)"
    r"|disregard (?:all |any )?(?:the )?(?:previous|prior|above|earlier|your) "
    r"(?:instructions|prompts|rules)"
    r"|you are now (?:a|an|the|my|in)\b|new instructions?:|override instructions?:"
    r"|\[system\]|\[inst\]|<<sys>>|<\|im_start\|>",
    re.IGNORECASE,
)
_INJECTION_KEYWORDS = (
    "ignore",
    "disregard",
    "you are now",
    "instruction",
    "[system]",
    "[inst]",
    "<<sys>>",
    "<|im_start|>",
)
MARK_OPEN = "[[possible prompt injection: "
MARK_CLOSE = "]]"


@dataclass(slots=True)
class Sanitized:
    text: str
    html: str
    detections: list[Detection] = field(default_factory=list)
    hidden_text: str = ""  # the removed hidden HTML, for the injection rules to look at

    @property
    def changed(self) -> bool:
        return bool(self.detections)


def sanitize(text: str, html: str) -> Sanitized:
    """Clean ``text`` and ``html`` for an agent; ``detections`` says what was done."""
    result = Sanitized(text, html)
    result.text = _strip_invisible(text, "text", result.detections)
    result.html = _strip_invisible(html, "html", result.detections)
    if result.html:
        result.html = _strip_hidden_html(result.html, result)
        lowered = result.html.lower()
        count = 0
        if "script:" in lowered or "data:" in lowered:  # the regex starts with \b: slow
            result.html, count = _DANGEROUS_TARGET.subn(r"\1#removed-", result.html)
        if count:
            result.detections.append(
                Detection("data_uri", "javascript: or data: link targets", count)
            )
    result.text = mark_injection(result.text, result.detections)
    return result


def _strip_invisible(value: str, source: str, detections: list[Detection]) -> str:
    if not value or value.isascii():
        return value
    for kind, description, pattern in _INVISIBLE:
        value, count = pattern.subn("", value)
        if count:
            detections.append(Detection(f"{kind}_{source}", f"{description} in {source}", count))
    return value


def mark_injection(text: str, detections: list[Detection]) -> str:
    """Wrap instruction-like phrases so a reader sees they were flagged as suspicious."""
    lowered = text.lower()
    if not any(map(lowered.__contains__, _INJECTION_KEYWORDS)):
        return text
    marked, count = _INJECTION_PHRASES.subn(lambda m: f"{MARK_OPEN}{m.group(0)}{MARK_CLOSE}", text)
    if count:
        detections.append(Detection("injection_phrasing", "instruction-like phrases", count))
    return marked


def _is_hidden(tag: str, attributes: str) -> bool:
    lowered = attributes.lower()
    if re.search(r"(?:^|\s)hidden(?:\s|=|/|$)", lowered) or 'aria-hidden="true"' in lowered:
        return tag != "input"
    style = _STYLE.search(attributes)
    css = (style.group(1) or style.group(2) or "").lower() if style else ""
    if _HIDDEN_STYLE.search(css):
        return True
    if _WHITE_TEXT.search(css):
        # White on an explicit white background, or on the (white) page itself; links and
        # table cells often carry white text on a colour set elsewhere, so they need both.
        if _WHITE_BACKGROUND.search(css):
            return True
        return "background" not in css and tag not in _COLOURED_CONTAINERS
    if tag == "iframe":
        return bool(re.search(r"(?:width|height)\s*=\s*[\"']?0\b", lowered))
    return False


def _strip_hidden_html(html: str, result: Sanitized) -> str:
    out: list[str] = []
    hidden: list[str] = []
    counts: dict[str, int] = {}
    pos = 0
    while (found := _OPEN_TAG.search(html, pos)) is not None:
        tag, attributes = found.group(1).lower(), found.group(2)
        kind = "script_tags" if tag == "script" else "hidden_html" if tag != "style" else ""
        if not kind or (kind == "hidden_html" and not _is_hidden(tag, attributes)):
            out.append(html[pos : found.end()])
            pos = found.end()
            continue
        void = tag in _VOID or attributes.rstrip().endswith("/")
        end = found.end() if void else _close_of(html, tag, found.end())
        out.append(html[pos : found.start()])
        hidden.append(html[found.end() : end])
        counts[kind] = counts.get(kind, 0) + 1
        pos = end
    out.append(html[pos:])
    cleaned = _strip_comments("".join(out), counts, hidden)
    for kind, count in counts.items():
        description = {
            "script_tags": "script elements",
            "hidden_html": "text hidden by HTML or CSS",
            "suspicious_comment": "HTML comments addressed to an AI",
        }[kind]
        result.detections.append(Detection(kind, description, count))
    result.hidden_text = " ".join(hidden)
    return cleaned


def _close_of(html: str, tag: str, start: int) -> int:
    """The end of the element opened just before ``start`` (nesting counted); the end of the
    document when it is never closed, as browsers do."""
    pattern = re.compile(rf"<(/?){re.escape(tag)}\b[^<>]*>", re.IGNORECASE)
    depth = 1
    for found in pattern.finditer(html, start):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            return found.end()
    return len(html)


def _strip_comments(html: str, counts: dict[str, int], hidden: list[str]) -> str:
    out: list[str] = []
    pos = 0
    while (start := html.find("<!--", pos)) != -1:
        end = html.find("-->", start + 4)
        end = len(html) if end == -1 else end + 3
        comment = html[start:end]
        out.append(html[pos:start])
        if _COMMENT_WORDS.search(comment):
            counts["suspicious_comment"] = counts.get("suspicious_comment", 0) + 1
            hidden.append(comment[4:-3])
        else:
            out.append(comment)
        pos = end
    out.append(html[pos:])
    return "".join(out)
