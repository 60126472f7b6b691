"""Hostile and odd input: the listener stores or cleanly refuses it, keeps serving, never stalls."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import smtplib
import time
from functools import partial

import pytest
from anyio import to_thread

from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer

from .support import (
    Agent,
    client_tls,
    code_and_text,
    folder,
    message,
    raw_message,
    send,
    session,
    stored_counts,
    transaction,
)

pytestmark = pytest.mark.anyio


def _garbage(size: int) -> bytes:
    """8-bit noise in CRLF lines (NULs and bytes that are not UTF-8 included)."""
    noise = random.Random(5321).randbytes(size)
    return b"\r\n".join(noise[i : i + 70] for i in range(0, size, 70)) + b"\r\n"


MALFORMED_MIME = (
    b'Content-Type: multipart/mixed; boundary="outer"\r\nSubject: broken parts\r\n\r\n'
    b"--outer\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n"
    b"--outer\r\nContent-Type: multipart/alternative\r\n\r\n--never-closed\r\n"
)
FOLDED_HEADER = b"Subject: " + b"\r\n ".join([b"word " * 14] * 15_000) + b"\r\n\r\nbody\r\n"
WIDE_TO = b"To: " + b",\r\n ".join(b"u%d@example.com" % i for i in range(60_000)) + b"\r\n\r\nx\r\n"

STORED = {
    "malformed MIME": MALFORMED_MIME,
    "8-bit garbage": b"Subject: noise\r\n\r\n" + _garbage(200_000),
    "NUL bytes": b"Subject: a\x00b\r\nFrom: \x00@x\r\n\r\n\x00\x00body\xff\xfe\r\n",
    "headers only": b"Subject: no body at all\r\n",
    "no header": b"\r\njust a body\r\n",
    "1 MB folded header": FOLDED_HEADER,
    "1 MB To header": WIDE_TO,
    "10 KB line": b"Subject: wide\r\n\r\n" + b"w" * 10_000 + b"\r\n",
}


@pytest.mark.parametrize("name", list(STORED))
async def test_odd_messages_are_stored_and_the_listener_keeps_serving(
    ctx: AppContext, server: SmtpServer, alice: Agent, name: str
) -> None:
    raw = STORED[name]
    replies = await send(server.port, "x@example.com", [alice.address], raw)
    assert replies[-1][0] == 250, code_and_text(replies[-1])
    [stored] = await folder(ctx, alice)
    assert stored.size > len(raw)  # the raw bytes and the Received line
    after = await send(server.port, "x@example.com", [alice.address], message(subject="next"))
    assert after[-1][0] == 250
    assert len(await folder(ctx, alice)) == 2


async def test_long_lines_and_dots_arrive_byte_for_byte(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """A 1 MB line is kept (RFC 5321 §4.5.3.1: avoid line limits), and dot-stuffing is undone
    exactly (§4.5.2): lines that start or end with dots, or are a lone dot, survive intact."""
    wide = b"Subject: one line\r\n\r\n" + b"L" * 1_000_000 + b"\r\n"
    dotted = (
        b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\ntrailing.\r\n"
        b"middle . dot\r\n...\r\n.\r\nend.\r\n"
    )
    bodies = [wide, dotted, b".\r\n", b"\r\n"]

    def several(client: smtplib.SMTP) -> list[list[tuple[int, bytes]]]:
        return [transaction(client, "x@example.com", [alice.address], raw) for raw in bodies]

    results = await session(server.port, several)
    assert [r[-1][0] for r in results] == [250] * len(bodies)
    stored = sorted(await folder(ctx, alice), key=lambda m: m.uid)
    for record, raw in zip(stored, bodies, strict=True):
        got = await raw_message(ctx, alice, record.uid)
        assert got.startswith(b"Received: ")
        assert got.endswith(raw)
        assert got.split(b"\r\n", 5)[5] == raw  # Received is five lines, then the message


async def test_an_empty_message_is_stored_with_its_trace_only(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """DATA followed at once by the lone dot: zero bytes of content, still a valid delivery."""

    def empty(client: smtplib.SMTP) -> tuple[int, bytes]:
        client.ehlo()
        client.mail("x@example.com")
        client.rcpt(alice.address)
        assert client.docmd("DATA")[0] == 354
        client.send(b".\r\n")
        return client.getreply()

    assert (await session(server.port, empty))[0] == 250
    [record] = await folder(ctx, alice)
    got = await raw_message(ctx, alice, record.uid)
    assert got.startswith(b"Received: ") and got.endswith(b"\r\n") and got.count(b"\r\n") == 5


async def test_long_command_lines_and_bad_auth_data_get_clean_replies(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    def attempt(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        return [
            client.docmd("NOOP", "n" * 100_000),
            client.docmd("AUTH", "PLAIN not-base64!"),
            client.docmd("AUTH", "PLAIN " + base64.b64encode(b"only\x00two").decode()),
            client.noop(),
        ]

    replies = [code_and_text(r) for r in await session(server.port, attempt)]
    assert replies[0].startswith("500 5.5.2")
    assert replies[1].startswith("501 5.5.2")
    assert replies[2].startswith("501 5.5.2")
    assert replies[3].startswith("250")


async def test_large_messages_do_not_stall_the_event_loop(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """While big and nasty messages are received, parsed and stored, a coroutine sharing the
    loop (as the HTTP API does) keeps being scheduled: no gap longer than a second."""
    body = b"".join(
        b"line %07d of a large message, nothing special\r\n" % i for i in range(200_000)
    )
    big = message(subject="big", body=body)  # about 10 MB
    loads = [big, big, big, FOLDED_HEADER, WIDE_TO]
    gaps: list[float] = []
    finished = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not finished.is_set():
            await asyncio.sleep(0.005)  # measures scheduling latency; synchronises nothing
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        results = await asyncio.gather(
            *(send(server.port, "x@example.com", [alice.address], raw) for raw in loads)
        )
    finally:
        finished.set()
        await ticker
    assert [r[-1][0] for r in results] == [250] * len(loads)
    assert len(await folder(ctx, alice)) == len(loads)
    assert len(gaps) > 10
    print(f"max gap {max(gaps):.3f}")
    assert max(gaps) < 1.0, f"the loop stalled for {max(gaps):.2f} s"


async def test_logs_carry_neither_credentials_nor_bodies(
    ctx: AppContext, server: SmtpServer, alice: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    """Even at DEBUG, for aiosmtpd's own logger too: no key, no AUTH blob, no message text."""
    for name in ("mail.log", "agentpost"):
        caplog.set_level(logging.DEBUG, logger=name)
    secret_body = b"the launch code is 0000-SECRET-BODY\r\n"

    def submit(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(ctx))
        client.login(alice.address, alice.key)
        raw = message(sender=alice.address, body=secret_body)
        return transaction(client, alice.address, [alice.address], raw)

    assert (await session(server.port, submit))[-1][0] == 250

    def wrong(client: smtplib.SMTP) -> int:
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        client.user, client.password = alice.address, "ak_wrong_secret_value"
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        return code

    with pytest.raises(smtplib.SMTPAuthenticationError):
        await session(server.port, wrong)
    inbound = await send(server.port, "x@example.com", [alice.address], message(body=secret_body))
    assert inbound[-1][0] == 250

    ours = [r for r in caplog.records if r.name.startswith(("mail.log", "agentpost"))]
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in ours)
    plain = base64.b64encode(f"\0{alice.address}\0{alice.key}".encode()).decode()
    assert any(r.name == "mail.log" and r.levelno == logging.DEBUG for r in ours)
    for secret in (alice.key, plain, "ak_wrong_secret_value", "SECRET-BODY"):
        assert secret not in logged
    assert "SMTP AUTH refused" in logged
    assert "login_data is deprecated" not in logged  # AUTH goes through our handle_AUTH hook


async def test_close_does_not_wait_for_idle_clients(ctx: AppContext, alice: Agent) -> None:
    """An idle connected client does not keep the listener from closing; nothing listens after."""
    from agentpost.smtp import start_smtp

    server = await start_smtp(ctx, host="127.0.0.1", port=0)
    client = await to_thread.run_sync(partial(smtplib.SMTP, "127.0.0.1", server.port, timeout=30))
    try:
        assert (await to_thread.run_sync(client.noop))[0] == 250
        await asyncio.wait_for(server.close(), timeout=15)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            await to_thread.run_sync(client.noop)
    finally:
        client.close()
    with pytest.raises(OSError):
        await to_thread.run_sync(partial(smtplib.SMTP, "127.0.0.1", server.port, timeout=5))
    assert await stored_counts(ctx) == (0, 0)
