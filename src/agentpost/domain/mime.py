"""Building outgoing RFC 5322 messages and parsing incoming ones.

Parsing never raises on bad input: malformed MIME, 8-bit garbage and broken headers degrade to
best-effort text (a mail server must store what it accepted). Building refuses anything that
could inject a header: every header value is checked for line breaks before it is set.
"""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parsedate_to_datetime

from agentpost.domain.addresses import Address, has_line_break, split_addresses

PREVIEW_CHARS = 500
_MSGID_RE = re.compile(r"<[^<>\s]+>")
# [^<>], not [^>]: with [^>] every "<" of a body without ">" scans to the end (quadratic).
_TAG_RE = re.compile(r"<[^<>]*>")
_SPACE_RE = re.compile(r"[ \t]+")
_HTML_SPACE_RE = re.compile(r"[ \t\r\n\f]+")  # whitespace is insignificant in HTML source
_NEWLINE_RE = re.compile(r"\r\n?")
_FIELD_NAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")  # RFC 5322 §2.2: printable, no colon


# Every message an agent sends is machine-written: RFC 3834 §5 ``Auto-Submitted`` tells
# responders not to answer it, and Exchange's ``X-Auto-Response-Suppress: All`` asks Outlook
# and Exchange for no out-of-office replies or receipts (loop protection).
LOOP_HEADERS = (("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"))


class MimeError(ValueError):
    """Input that cannot become a message; ``field`` names the offending part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class AttachmentInput:
    """An attachment as a sender supplies it; content is decoded bytes."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    filename: str
    content_type: str
    size: int

    def to_dict(self) -> dict[str, object]:
        return {"filename": self.filename, "contentType": self.content_type, "size": self.size}


@dataclass(slots=True)
class ParsedMessage:
    """The indexed view of a message; the raw bytes stay the source of truth."""

    message_id: str
    subject: str
    from_addr: Address
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    date: datetime
    in_reply_to: str | None
    references: list[str]
    text: str
    html: str
    attachments: list[AttachmentInfo] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def preview(self) -> str:
        body = self.text.strip() or html_to_text(self.html)
        # Collapsing a prefix gives the whole body's first characters once the result is
        # longer than the preview: a long body need not be rewritten for them.
        head = body[: PREVIEW_CHARS * 2]
        preview = _SPACE_RE.sub(" ", head).strip()
        if len(preview) <= PREVIEW_CHARS and len(head) < len(body):
            preview = _SPACE_RE.sub(" ", body).strip()
        return preview[:PREVIEW_CHARS]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """Everything needed to build a message; validated by ``build_message``."""

    sender: Address
    to: list[Address]
    subject: str
    text: str = ""
    html: str = ""
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachments: list[AttachmentInput] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)


def decode_attachment(content: str, encoding: str | None, *, field_name: str) -> bytes:
    """Decode an API attachment: base64 when ``encoding`` says so, else UTF-8 text."""
    enc = (encoding or "utf-8").lower()
    if enc == "base64":
        try:
            return base64.b64decode(content.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise MimeError(f"{field_name} is not valid base64", field_name) from exc
    if enc in ("utf-8", "utf8", "text"):
        return content.encode("utf-8")
    raise MimeError(f"{field_name}: encoding must be 'base64' or 'utf-8'", field_name)


def normalize_message_id(value: str | None) -> str | None:
    """Return the first ``<id>`` in value, adding brackets to a bare id; None when empty."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    found = _MSGID_RE.search(value)
    if found:
        return found.group(0)
    if any(ch.isspace() for ch in value) or has_line_break(value):
        return None
    return f"<{value}>"


def split_references(value: str | list[str] | None) -> list[str]:
    """All message ids of a References header (or a list of them), in order."""
    if value is None:
        return []
    text = " ".join(value) if isinstance(value, list) else value
    found = _MSGID_RE.findall(text)
    if found:
        return found
    return [f"<{part}>" for part in text.split() if "@" in part]


def new_message_id(domain: str) -> str:
    return make_msgid(domain=domain)


def _check_header(value: str, field_name: str) -> None:
    if has_line_break(value):
        raise MimeError(f"{field_name} must not contain line breaks", field_name)


def _check_addresses(addresses: list[Address], field_name: str) -> None:
    # Display names come from callers (and agent metadata): they land in the header line too.
    for item in addresses:
        _check_header(item.formatted(), field_name)


def _check_outgoing(out: OutgoingMessage, message_id: str) -> None:
    """Refuse anything that could break out of a header line (MimeError names the field)."""
    _check_header(out.subject, "subject")
    for field_name, items in (
        ("from", [out.sender]),
        ("to", out.to),
        ("cc", out.cc),
        ("replyTo", out.reply_to),
    ):
        _check_addresses(items, field_name)
    for name, value in out.extra_headers.items():
        if not _FIELD_NAME_RE.match(name):
            raise MimeError(f"header name {name!r} is not a valid field name", "headers")
        _check_header(value, name)
    for ref in [message_id, out.in_reply_to or "", *out.references]:
        _check_header(ref, "references")
    for position, att in enumerate(out.attachments):
        # Filename and type become MIME header parameters (RFC 2183, RFC 2045).
        _check_header(att.filename, f"attachments.{position}.filename")
        _check_header(att.content_type, f"attachments.{position}.contentType")


def _top_headers(out: OutgoingMessage, message_id: str, date: datetime) -> list[tuple[str, str]]:
    """The message's own header fields, in the order they are written."""
    fields = [("From", out.sender.formatted()), ("To", ", ".join(a.formatted() for a in out.to))]
    if out.cc:
        fields.append(("Cc", ", ".join(a.formatted() for a in out.cc)))
    if out.reply_to:
        fields.append(("Reply-To", ", ".join(a.formatted() for a in out.reply_to)))
    fields += [
        ("Subject", out.subject),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
    ]
    if out.in_reply_to:
        fields.append(("In-Reply-To", out.in_reply_to))
    if out.references:
        fields.append(("References", " ".join(out.references)))
    given = {name.lower() for name in out.extra_headers}
    fields += [(name, value) for name, value in LOOP_HEADERS if name.lower() not in given]
    return fields + list(out.extra_headers.items())


def build_message(out: OutgoingMessage, *, message_id: str, date: datetime) -> EmailMessage:
    """Build the RFC 5322 message. Raises MimeError for header-unsafe input."""
    _check_outgoing(out, message_id)
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in _top_headers(out, message_id, date):
        msg[name] = value
    _add_body(msg, out)
    return msg


def build_raw(out: OutgoingMessage, *, message_id: str, date: datetime) -> bytes:
    """``build_message(...).as_bytes(policy=SMTP)``, at a fraction of the cost.

    The email package parses every header it is given into a structured object and folds it
    again on output, which is most of the cost of building a small message. A header that
    is ASCII and fits on one line comes out of that unchanged, so it is written as it is;
    any other (non-ASCII, long) still goes through the package, which encodes and folds it.
    The body is the package's own, except the most common one, which is written directly:
    plain ASCII text alone, with no line over 78 characters (``_plain_text_body``).
    """
    return build_with_view(out, message_id=message_id, date=date)[0]


def build_with_view(
    out: OutgoingMessage, *, message_id: str, date: datetime
) -> tuple[bytes, ParsedMessage | None]:
    """``build_raw``'s bytes, and what ``parse_message`` would read back from them, found
    without parsing them for the common message: plain ASCII text, every header written as
    given. The view is read from the same header values by the same code (``_view``), so it
    equals the parse; None for any other message (parse its bytes)."""
    _check_outgoing(out, message_id)
    fields = _top_headers(out, message_id, date)
    head = b"".join(_header_line(n, v) for n, v in fields)
    plain = None if out.html or out.attachments else _plain_text_body(out.text)
    if plain is None:
        body = EmailMessage(policy=policy.SMTP)
        _add_body(body, out)
        return head + body.as_bytes(policy=policy.SMTP), None
    if not all(_written_as_given(n, v) for n, v in fields):
        return head + plain, None
    headers = Message()  # compat32: values kept as given, as the parser keeps them
    for name, value in fields:
        headers[name] = value
    text = _wire_text(plain[len(_PLAIN_TEXT_HEAD) :].decode("ascii"))
    return head + plain, _view(headers, text, "", [], fallback_date=date)


_FOLD_AT = 78  # policy.SMTP's max_line_length: longer lines are folded
_PLAIN_TEXT_HEAD = (
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"MIME-Version: 1.0\r\n\r\n"
)


def _plain_text_body(text: str) -> bytes | None:
    """What ``set_content(text)`` then ``as_bytes`` write for ASCII text whose lines fit in
    78 characters: the package chooses 7bit for it and only normalises the line ends. None
    for any other text (the package then picks quoted-printable or base64)."""
    if not text.isascii():
        return None
    lines = text.encode("ascii").splitlines()  # bytes: \n, \r\n and \r only, as the package
    if any(len(line) > _FOLD_AT for line in lines):
        return None
    return _PLAIN_TEXT_HEAD + b"\r\n".join(lines) + b"\r\n"


def _written_as_given(name: str, value: str) -> bool:
    # Encoded words (formataddr's non-ASCII names) are re-encoded by the package: leave
    # those to it too, so both builders write the same bytes.
    return (
        value.isascii()
        and len(name) + 2 + len(value) <= _FOLD_AT
        and value.strip() == value
        and "=?" not in value
    )


def _header_line(name: str, value: str) -> bytes:
    if _written_as_given(name, value):
        return f"{name}: {value}\r\n".encode("ascii")
    folded: str = policy.SMTP.header_factory(name, value).fold(policy=policy.SMTP)
    return folded.encode("ascii")


def _add_body(msg: EmailMessage, out: OutgoingMessage) -> None:
    msg.set_content(out.text)
    if out.html:
        msg.add_alternative(out.html, subtype="html")
    for att in out.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(
            att.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=att.filename,
        )


def parse_message(raw: bytes, *, fallback_date: datetime | None = None) -> ParsedMessage:
    """Parse raw bytes into the indexed view. Never raises on malformed input, and does
    bounded work whatever the header sizes (see ``bounded_header``)."""
    msg = _parse(raw)
    text, html, attachments = _walk_parts(msg)
    return _view(msg, text, html, attachments, fallback_date=fallback_date)


def _view(
    msg: Message,
    text: str,
    html: str,
    attachments: list[AttachmentInfo],
    *,
    fallback_date: datetime | None,
) -> ParsedMessage:
    return ParsedMessage(
        message_id=normalize_message_id(_header(msg, "Message-ID")) or "",
        subject=_header(msg, "Subject"),
        from_addr=(_addresses(msg, "From") or [Address(address="")])[0],
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        reply_to=_addresses(msg, "Reply-To"),
        date=_date(msg, fallback_date),
        in_reply_to=normalize_message_id(_header(msg, "In-Reply-To")),
        references=split_references(_header(msg, "References")),
        text=text,
        html=html,
        attachments=attachments,
    )


# Parsing a header field costs about 5 µs per byte (email's header parser), so a 1 MB Subject
# or To would take seconds of CPU. The parsed view keeps the first 16 KiB of each top-level
# field; the raw message, the source of truth, keeps everything.
MAX_PARSED_FIELD = 16 * 1024
_HEADER_END = re.compile(rb"\n\r?\n")
_FIELD_START = re.compile(rb"(?<=\n)(?=[^ \t])")


def bounded_header(raw: bytes) -> bytes:
    """``raw`` with every top-level header field cut to MAX_PARSED_FIELD bytes."""
    found = _HEADER_END.search(raw)
    end = found.start() + 1 if found else len(raw)
    if end <= MAX_PARSED_FIELD:
        return raw
    fields = _FIELD_START.split(raw[:end])
    return b"".join(_bounded_field(f) for f in fields) + raw[end:]


def _bounded_field(field: bytes) -> bytes:
    if len(field) <= MAX_PARSED_FIELD:
        return field
    cut = field.rfind(b"\n", 0, MAX_PARSED_FIELD)  # keep whole folded lines when possible
    return field[: cut + 1] if cut > 0 else field[:MAX_PARSED_FIELD] + b"\r\n"


def _parse(raw: bytes) -> Message:
    # compat32 hands back header strings as they are; the default policy builds a structured
    # header object per access, which is most of the cost of indexing a small message.
    return BytesParser(policy=policy.compat32).parsebytes(bounded_header(raw))


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words (``=?utf-8?q?...?=``); undecodable text is kept as is."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError, HeaderParseError):
        return value


def _raw_header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header must not lose the message
        value = None
    if value is None:
        return ""
    text = str(value).replace("\x00", "")  # NUL cannot be stored as text (PostgreSQL)
    return " ".join(text.split()) if has_line_break(text) else text.strip()


def _header(msg: Message, name: str) -> str:
    decoded = decode_words(_raw_header(msg, name)).replace("\x00", "")
    return " ".join(decoded.split()) if has_line_break(decoded) else decoded.strip()


def _addresses(msg: Message, name: str) -> list[Address]:
    # Split the list before decoding: a decoded display name may contain commas.
    value = _raw_header(msg, name)
    if not value:
        return []
    try:
        pairs = split_addresses(value)
    except Exception:
        return []
    return [Address(address=a.strip(), name=_clean_name(n)) for n, a in pairs if a and "@" in a]


def _clean_name(name: str) -> str:
    decoded = decode_words(name.strip())
    return " ".join(decoded.split()) if has_line_break(decoded) else decoded


def _date(msg: Message, fallback: datetime | None) -> datetime:
    value = _header(msg, "Date")
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        return fallback or datetime.now(UTC)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _leaf_parts(msg: Message) -> Iterator[tuple[Message, str, str | None, bool]]:
    """Every non-multipart part: (part, content type, filename, is it an attachment)."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
            filename = decode_words(filename) if filename else filename
        except Exception:  # a malformed parameter must not lose the part
            disposition, filename = None, None
        is_attachment = (
            disposition == "attachment" or bool(filename) or not ctype.startswith("text/")
        )
        yield part, ctype, filename, is_attachment


def _walk_parts(msg: Message) -> tuple[str, str, list[AttachmentInfo]]:
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[AttachmentInfo] = []
    for part, ctype, filename, is_attachment in _leaf_parts(msg):
        if is_attachment:
            size = len(_payload_bytes(part))
            attachments.append(AttachmentInfo(filename or "unnamed", ctype, size))
        elif ctype == "text/html":
            html_parts.append(_payload_text(part))
        else:
            text_parts.append(_payload_text(part))
    return "\n".join(text_parts), "\n".join(html_parts), attachments


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _payload_text(part: Message) -> str:
    data = _payload_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except (LookupError, UnicodeError):  # an unknown charset, or one like idna that refuses
        text = data.decode("utf-8", errors="replace")
    return _wire_text(text)


def _wire_text(text: str) -> str:
    # Callers get "\n" line ends, not the wire's CRLF (RFC 5322 §2.3); NUL means nothing in
    # text and PostgreSQL refuses to store it.
    return _NEWLINE_RE.sub("\n", text).replace("\x00", "")


def iter_attachments(raw: bytes) -> Iterator[tuple[AttachmentInfo, bytes]]:
    """The attachments of a raw message with their decoded bytes, in parse order."""
    msg = _parse(raw)
    for part, ctype, filename, is_attachment in _leaf_parts(msg):
        if is_attachment:
            payload = _payload_bytes(part)
            yield AttachmentInfo(filename or "unnamed", ctype, len(payload)), payload


def attachment_bytes(raw: bytes, index: int) -> tuple[AttachmentInfo, bytes] | None:
    """The ``index``-th attachment (in parse order) of a raw message, or None."""
    for position, item in enumerate(iter_attachments(raw)):
        if position == index:
            return item
    return None


def html_to_text(value: str) -> str:
    """A plain rendering of HTML for previews and search; not a sanitizer."""
    if not value:
        return ""
    without_tags = _TAG_RE.sub(" ", value)
    return html_lib.unescape(_HTML_SPACE_RE.sub(" ", without_tags)).strip()
