"""Relay rules: sub-addresses, routing headers and the From rewrite, byte for byte."""

from __future__ import annotations

import pytest

from agentpost.domain import relay as rules
from agentpost.domain.transport import Security

RELAY = "Owner@Relay.test"


def test_sub_addresses_are_built_and_recognised_case_insensitively() -> None:
    assert rules.sub_address(RELAY, "Alice") == "Owner+alice@relay.test"
    assert rules.tag_of(RELAY, "owner+Alice@RELAY.test") == "alice"
    assert rules.tag_of(RELAY, "owner@relay.test") is None  # no tag
    assert rules.tag_of(RELAY, "other+alice@relay.test") is None  # someone else
    assert rules.tag_of(RELAY, "owner+alice@elsewhere.test") is None
    assert rules.tag_of(RELAY, "owner+bad tag@relay.test") is None


def test_subaddress_tag_prefers_to_then_cc_then_delivery_headers() -> None:
    headers = {
        "to": ["Carol <carol@example.org>, owner+bob@relay.test"],
        "cc": ["owner+alice@relay.test"],
        "delivered-to": ["owner+zed@relay.test"],
    }
    assert rules.subaddress_tag(RELAY, headers) == "bob"
    assert rules.subaddress_tag(RELAY, {"delivered-to": ["owner+zed@relay.test"]}) == "zed"
    assert rules.subaddress_tag(RELAY, {"to": ["owner@relay.test"]}) is None


def test_header_fields_reads_every_routing_header() -> None:
    raw = (
        b"From: =?utf-8?q?Z=C3=A9?= <z@example.org>\r\nTo: owner@relay.test\r\n"
        b"Delivered-To: owner+alice@relay.test\r\nX-Original-To: owner+bob@relay.test\r\n"
        b"Subject: hi\r\n\r\nbody"
    )
    fields = rules.header_fields(raw)
    assert fields["from"] == ["Zé <z@example.org>"]
    assert fields["delivered-to"] == ["owner+alice@relay.test"]
    assert fields["x-original-to"] == ["owner+bob@relay.test"]
    assert fields["cc"] == []
    assert rules.is_own_send(RELAY, ["alice <owner+alice@relay.test>"])
    assert not rules.is_own_send(RELAY, fields["from"])


def test_thread_parents_put_in_reply_to_first_then_references_newest_first() -> None:
    assert rules.thread_parents("<c>", ["<a>", "<b>", "<c>"]) == ["<c>", "<b>", "<a>"]
    assert rules.thread_parents(None, ["<a>", "<b>"]) == ["<b>", "<a>"]


def test_replace_sender_changes_only_from_and_reply_to() -> None:
    raw = (
        b"Date: Sun, 22 Nov 2026 05:00:00 +0000\r\nFrom: alice\r\n <alice@localhost>\r\n"
        b"Reply-To: x@localhost\r\nTo: carol@example.org\r\nSubject: s\r\n\r\n"
        b"From: not a header, body text\r\n"
    )
    value = rules.sender_header(RELAY, "alice", "Alice")
    out = rules.replace_sender(raw, value, value)
    assert out == (
        b"Date: Sun, 22 Nov 2026 05:00:00 +0000\r\nFrom: Alice <Owner+alice@relay.test>\r\n"
        b"Reply-To: Alice <Owner+alice@relay.test>\r\nTo: carol@example.org\r\nSubject: s\r\n"
        b"\r\nFrom: not a header, body text\r\n"
    )
    lf = rules.replace_sender(b"To: a@b.c\nSubject: s\n\nbody\n", value, value)
    assert lf.startswith(b"From: Alice <Owner+alice@relay.test>\nReply-To: ") and lf.endswith(
        b"\n\nbody\n"
    )


@pytest.mark.parametrize("name", ["Eve\r\nBcc: victim@example.org", "Eve\x00\x0b\u2028X"])
def test_sender_header_never_carries_a_line_break(name: str) -> None:
    value = rules.sender_header(RELAY, "eve", name)
    assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert value.endswith("<Owner+eve@relay.test>")


def test_ports_imply_their_tls_mode() -> None:
    assert rules.implicit_tls_smtp(465) is Security.TLS
    assert rules.implicit_tls_smtp(587) is Security.STARTTLS
    assert rules.implicit_tls_imap(993) is Security.TLS
    assert rules.implicit_tls_imap(143) is Security.STARTTLS
