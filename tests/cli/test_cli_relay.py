"""``agentpost relay setup|status|remove`` against a real Dovecot and a loopback SMTP peer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agentpost.testing.dovecot import Dovecot, dovecot_available
from agentpost.testing.relay import RELAY_EMAIL, RELAY_PASSWORD, SmtpPeer, threaded_smtp_peer

from .support import Invoke, Outcome

pytestmark = pytest.mark.skipif(not dovecot_available(), reason="needs dovecot-imapd")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        server.add_user(RELAY_EMAIL, RELAY_PASSWORD)
        yield server


@pytest.fixture
def peer() -> Iterator[SmtpPeer]:
    with threaded_smtp_peer(RELAY_EMAIL, RELAY_PASSWORD) as server:
        yield server


def _setup(agentpost: Invoke, dovecot: Dovecot, peer: SmtpPeer, password: str) -> Outcome:
    return agentpost(
        "relay",
        "setup",
        RELAY_EMAIL,
        "--password-stdin",
        "--json",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(peer.port),
        "--smtp-security",
        "none",
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "none",
        "--agent",
        "desk",
        input=password + "\n",
    )


def test_setup_status_and_remove(agentpost: Invoke, dovecot: Dovecot, peer: SmtpPeer) -> None:
    empty = agentpost("relay", "status", "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout)["mode"] == "none"

    refused = _setup(agentpost, dovecot, peer, "not-the-password")
    assert refused.exit_code == 1
    assert "IMAP check failed" in refused.stderr
    assert "not-the-password" not in refused.stderr + refused.stdout

    done = _setup(agentpost, dovecot, peer, RELAY_PASSWORD)
    assert done.exit_code == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["subAddress"] == "owner+desk@relay.test"
    assert created["apiKey"].startswith("ak_")

    status = json.loads(agentpost("relay", "status", "--json").stdout)
    assert status["mode"] == "relay" and status["relay"]["defaultAgent"] == "desk"
    assert RELAY_PASSWORD not in json.dumps(status)
    plain = agentpost("relay", "status")
    assert "status: active" in plain.stdout and RELAY_EMAIL in plain.stdout

    removed = agentpost("relay", "remove")
    assert removed.exit_code == 0 and "disconnected" in removed.stdout
    assert json.loads(agentpost("relay", "status", "--json").stdout)["mode"] == "none"
    again = agentpost("relay", "remove")
    assert again.exit_code == 1 and "no relay account" in again.stderr
