"""The protocol's shortcuts around aiosmtpd's slow steps must answer exactly as aiosmtpd does."""

from __future__ import annotations

import inspect

import pytest
from aiosmtpd.smtp import SMTP

from agentpost.services.context import AppContext
from agentpost.smtp.handler import SmtpHandler
from agentpost.smtp.protocol import AgentSMTP

pytestmark = pytest.mark.anyio

ARGUMENTS = [
    "<bob@example.com>",
    "<bob@example.com> SIZE=2048",
    "  <bob.smith+tag@mail-1.example.org>   BODY=8BITMIME SIZE=10",
    "<o'neil!#$%&*/=?^_`{|}~-@example.com>",
    "<>",
    "<> SIZE=10",
    '<"quoted local"@example.com>',
    "<a..b@example.com>",
    "<.a@example.com>",
    "<a@[192.0.2.1]>",
    "<a@-bad.example>",
    "<a@bad-.example>",
    "bob@example.com",
    "bob@example.com SIZE=1",
    "<bob@example.com> (a comment) SIZE=1",
    "<bob@example.com",
    "<bob@exämple.com>",
    "<" + "x" * 70 + "@example.com>",
    "",
]


async def test_addresses_parse_exactly_as_aiosmtpd_parses_them(ctx: AppContext) -> None:
    ours = AgentSMTP(SmtpHandler(ctx), hostname="mx.test")
    ours.local_part_limit = 64
    for argument in ARGUMENTS:
        assert ours._getaddr(argument) == SMTP._getaddr(ours, argument), argument


async def test_connections_get_every_command_mechanism_and_hook(ctx: AppContext) -> None:
    handler = SmtpHandler(ctx)
    protocol = AgentSMTP(handler, hostname="mx.test")
    commands = {n[5:] for n, _ in inspect.getmembers(AgentSMTP) if n.startswith("smtp_")}
    hooks = {n[7:] for n in object.__dir__(handler) if n.startswith("handle_")}
    hooks |= {n[7:] for n in dir(SmtpHandler) if n.startswith("handle_")}
    assert set(protocol._smtp_methods) == commands
    assert {"DATA", "EHLO", "HELO", "MAIL", "RCPT", "AUTH", "STARTTLS", "QUIT"} <= commands
    assert set(protocol._handle_hooks) == hooks
    assert {"PLAIN", "LOGIN"} <= set(protocol._auth_methods)
