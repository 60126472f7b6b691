"""A small, blocking IMAP client for relay accounts (imapclient over imaplib).

Every call blocks: the services run them with ``asyncio.to_thread``, one session per thread at
a time. Messages are always read with ``BODY.PEEK[]`` so importing never changes the owner's
read state (RFC 3501 §6.4.5). Failures become ``ImapFailure`` with a ``kind`` (``auth``,
``connect``, ``tls``, ``protocol``) and a message a person can act on; the password never
appears in one.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import (  # type: ignore[import-untyped]
    IMAPClientError,
    LoginError,
)

from agentpost.domain.transport import Security

# RFC 2177 §3: a client should re-issue IDLE at least every 29 minutes.
IDLE_RENEW_SECONDS = 25 * 60
# How often an IDLE wait looks at its stop flag: bounds how long a shutdown takes.
IDLE_SLICE_SECONDS = 1.0
SEARCH_LIMIT = 200
HEADER_FIELDS = (
    "TO CC FROM SUBJECT DATE MESSAGE-ID IN-REPLY-TO REFERENCES DELIVERED-TO X-ORIGINAL-TO"
)


class ImapFailure(Exception):
    """A relay IMAP operation failed: ``kind`` is auth, connect, tls or protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class ImapEndpoint:
    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    timeout: float = 30.0
    verify_tls: bool = True


@dataclass(frozen=True, slots=True)
class MailboxState:
    uid_validity: int
    uid_next: int
    exists: int


@dataclass(frozen=True, slots=True)
class HeaderHit:
    """One message found by a search: its UID, header block, flags and size."""

    uid: int
    header: bytes
    flags: list[str]
    size: int


def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:  # only for an owner's explicit choice (private CA) or a test peer
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect_error(endpoint: ImapEndpoint, exc: BaseException) -> ImapFailure:
    where = f"{endpoint.host}:{endpoint.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ImapFailure(
            "tls", f"the IMAP server {where} presented a certificate that could not be verified"
        )
    if isinstance(exc, ssl.SSLError):
        return ImapFailure(
            "tls", f"TLS with the IMAP server {where} failed ({exc.reason}); check the port"
        )
    if isinstance(exc, socket.timeout | TimeoutError):
        return ImapFailure("connect", f"the IMAP server {where} did not answer in time")
    if isinstance(exc, OSError):
        return ImapFailure(
            "connect", f"cannot connect to the IMAP server {where}: {exc.strerror or exc}"
        )
    return ImapFailure("protocol", f"the IMAP server {where} answered unexpectedly: {exc}")


@contextlib.contextmanager
def _failures(what: str) -> Iterator[None]:
    """Any error of the connection or the protocol as an ``ImapFailure``."""
    try:
        yield
    except ImapFailure:
        raise
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise ImapFailure("connect", f"the IMAP connection failed while {what}: {exc}") from None
    except (IMAPClientError, imaplib.IMAP4.error) as exc:
        raise ImapFailure("protocol", f"the IMAP server refused {what}: {exc}") from None


class ImapSession:
    """One logged-in connection. Use ``open_session`` to make one; ``close`` when done."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.can_idle = bool(client.has_capability("IDLE"))

    def select(self, mailbox: str) -> MailboxState:
        with _failures(f'opening the mailbox "{mailbox}"'):
            info = self._client.select_folder(mailbox, readonly=True)
        return MailboxState(
            uid_validity=int(info[b"UIDVALIDITY"]),
            uid_next=int(info.get(b"UIDNEXT", 0)),
            exists=int(info.get(b"EXISTS", 0)),
        )

    def uids_after(self, last_uid: int, limit: int) -> list[int]:
        """UIDs above ``last_uid``, oldest first, at most ``limit``. ``n:*`` always matches
        the highest UID even when it is below n (RFC 3501 §6.4.8), hence the filter."""
        with _failures("searching"):
            found = self._client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(int(uid) for uid in found if int(uid) > last_uid)[:limit]

    def uids_since(self, day: date) -> list[int]:
        with _failures("searching"):
            return sorted(int(uid) for uid in self._client.search(["SINCE", day]))

    def fetch_raw(self, uid: int) -> bytes | None:
        """The message exactly as stored on the server, or None if it is gone."""
        with _failures(f"fetching UID {uid}"):
            data = self._client.fetch([uid], ["BODY.PEEK[]"])
        item = data.get(uid)
        if not item:
            return None
        raw = item.get(b"BODY[]")
        return bytes(raw) if raw is not None else None

    def search(self, criteria: list[Any], limit: int = SEARCH_LIMIT) -> list[HeaderHit]:
        """Newest ``limit`` matches with their headers (peeked, so nothing is marked read)."""
        with _failures("searching"):
            found = self._client.search(criteria or ["ALL"])
        uids = sorted((int(u) for u in found), reverse=True)[:limit]
        if not uids:
            return []
        part = f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]"
        with _failures("fetching headers"):
            data = self._client.fetch(uids, [part, "FLAGS", "RFC822.SIZE"])
        hits = []
        for uid in uids:
            item = data.get(uid)
            if not item:
                continue
            header = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"")
            flags = [f.decode() if isinstance(f, bytes) else str(f) for f in item[b"FLAGS"]]
            hits.append(HeaderHit(uid, bytes(header), flags, int(item[b"RFC822.SIZE"])))
        return hits

    def wait_for_change(
        self,
        seconds: float,
        stop: threading.Event,
        on_idle: Callable[[], None] | None = None,
    ) -> bool:
        """IDLE (RFC 2177) until the mailbox changes, ``seconds`` pass or ``stop`` is set.
        True when the server announced new mail (EXISTS). ``on_idle`` is called once the
        server has accepted the IDLE."""
        seconds = min(seconds, IDLE_RENEW_SECONDS)
        with _failures("waiting for new mail"):
            self._client.idle()
            try:
                if on_idle is not None:
                    on_idle()
                deadline = time.monotonic() + seconds
                while not stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    responses = self._client.idle_check(timeout=min(IDLE_SLICE_SECONDS, left))
                    if any(_is_exists(r) for r in responses):
                        return True
                return False
            finally:
                self._client.idle_done()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.logout()
        with contextlib.suppress(Exception):
            self._client.shutdown()


def _is_exists(response: Iterable[Any]) -> bool:
    items = list(response)
    return len(items) >= 2 and items[1] == b"EXISTS"


def open_session(endpoint: ImapEndpoint) -> ImapSession:
    """Connect, secure the connection as ``endpoint.security`` says, and log in."""
    context = _tls_context(endpoint.verify_tls)
    try:
        client = IMAPClient(
            endpoint.host,
            port=endpoint.port,
            ssl=endpoint.security is Security.TLS,
            ssl_context=context,
            timeout=endpoint.timeout,
        )
    except (OSError, IMAPClientError) as exc:
        raise _connect_error(endpoint, exc) from None
    try:
        if endpoint.security is Security.STARTTLS:
            client.starttls(context)
        client.login(endpoint.username, endpoint.password)
    except LoginError as exc:
        _quiet_shutdown(client)
        raise ImapFailure(
            "auth", f"the IMAP server refused the login for {endpoint.username}: {_text(exc)}"
        ) from None
    except (OSError, IMAPClientError) as exc:
        _quiet_shutdown(client)
        raise _connect_error(endpoint, exc) from None
    return ImapSession(client)


def _text(exc: Exception) -> str:
    text = str(exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return text


def _quiet_shutdown(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()
