"""``agentpost smtp``, ``vault`` and ``audit`` in-process against a fresh data directory, with a
real SMTP peer (in a thread of its own) for ``smtp test``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from agentpost.testing.smtp_auth import AuthPeer, auth_peer

from .support import Invoke

PASSWORD = "cli-Secr3t-pass"


@pytest.fixture
def peer() -> Iterator[AuthPeer]:
    """An AUTH peer served from its own event loop thread (the CLI runs asyncio.run itself)."""
    loop = asyncio.new_event_loop()
    ready: list[AuthPeer] = []
    started, stop = threading.Event(), asyncio.Event()

    async def serve() -> None:
        async with AsyncExitStack() as stack:
            ready.append(await stack.enter_async_context(auth_peer("owner@example.com", PASSWORD)))
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


def add(agentpost: Invoke, name: str, *args: str, password: str = PASSWORD) -> dict[str, object]:
    result = agentpost(
        "smtp", "add", name, "--username", "owner@example.com", "--password-stdin",
        *args, "--json", input=password + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    created: dict[str, object] = result.json()
    return created


def test_add_list_show_update_remove(agentpost: Invoke) -> None:
    created = add(agentpost, "work", "--preset", "gmail", "--max-per-day", "200")
    assert created["host"] == "smtp.gmail.com" and created["hasPassword"] is True
    assert created["maxEmailsPerDay"] == 200
    listed = agentpost("smtp", "list", "--json")
    assert [c["id"] for c in listed.json()["configs"]] == [created["id"]]
    shown = agentpost("smtp", "show", "work", "--json")  # by name
    assert shown.json()["id"] == created["id"]
    human = agentpost("smtp", "show", str(created["id"]))
    assert "smtp.gmail.com:587 (starttls)" in human.stdout and "Password:   set" in human.stdout
    updated = agentpost("smtp", "update", "work", "--from-name", "Ops", "--inactive", "--json")
    assert updated.exit_code == 0, updated.stderr
    assert updated.json()["fromName"] == "Ops" and updated.json()["isActive"] is False
    moved = agentpost("smtp", "update", "work", "--host", "smtp.example.net")
    assert moved.exit_code == 1 and "password again" in moved.stderr
    removed = agentpost("smtp", "remove", "work", "--yes", "--json")
    assert removed.json() == {"id": created["id"], "deleted": True}
    assert agentpost("smtp", "list", "--json").json() == {"configs": []}
    for result in (listed, shown, human, updated, removed):
        assert PASSWORD not in result.stdout + result.stderr


def test_add_prompts_for_the_password_without_echo(agentpost: Invoke) -> None:
    result = agentpost(
        "smtp", "add", "p", "--preset", "outlook", "--username", "o@example.com",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.stdout
    assert agentpost("smtp", "show", "p", "--json").json()["hasPassword"] is True


def test_bad_input_is_one_line(agentpost: Invoke) -> None:
    result = agentpost("smtp", "add", "x", "--host", "mail.example.com", "--security", "none",
                       "--from-email", "a@example.com")  # fmt: skip
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]  # after the first-run master key banner
    assert last.startswith("error: security none") and "allowInsecure" in last
    missing = agentpost("smtp", "show", "nope")
    assert missing.exit_code == 1 and "agentpost smtp list" in missing.stderr


def test_smtp_test_against_a_real_peer(agentpost: Invoke, peer: AuthPeer) -> None:
    add(agentpost, "lo", "--host", "127.0.0.1", "--port", str(peer.port), "--security", "none")
    ok = agentpost("smtp", "test", "lo")
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    assert "works" in ok.stdout
    agentpost("smtp", "update", "lo", "--password-stdin", input="wrong\n")
    bad = agentpost("smtp", "test", "lo", "--json")
    assert bad.exit_code == 1
    verdict = bad.json()
    assert verdict["ok"] is False and verdict["code"] == 535 and verdict["hint"]
    assert peer.logins == ["owner@example.com"] and peer.received == []


def test_vault_rotate_keeps_passwords_usable(
    agentpost: Invoke, data_dir: Path, peer: AuthPeer
) -> None:
    add(agentpost, "lo", "--host", "127.0.0.1", "--port", str(peer.port), "--security", "none")
    before = (data_dir / "vault.key").read_text()
    rotated = agentpost("vault", "rotate", "--json")
    assert rotated.exit_code == 0, rotated.stderr
    report = rotated.json()
    assert report["resealed"]["smtp_configs"] == 1 and len(report["retiredKeyIds"]) == 1
    assert (data_dir / "vault.key").read_text() != before
    assert agentpost("smtp", "test", "lo").exit_code == 0  # opened with the new key


def test_audit_list_export_and_verify(agentpost: Invoke, tmp_path: Path) -> None:
    add(agentpost, "a", "--preset", "gmail")
    add(agentpost, "b", "--preset", "gmail")
    agentpost("smtp", "remove", "a", "--yes")
    listed = agentpost("audit", "list", "--json")
    # Row 1: the first command generated the master key (key.created).
    assert [e["operation"] for e in listed.json()["entries"]] == [
        "config.deleted", "config.created", "config.created", "key.created",
    ]  # fmt: skip
    page = agentpost("audit", "list", "--limit", "2", "--json").json()
    assert page["nextCursor"] == 3 and page["total"] == 4
    rest = agentpost("audit", "list", "--cursor", "3", "--json").json()
    assert [e["seq"] for e in rest["entries"]] == [2, 1]
    only = agentpost("audit", "list", "--operation", "config.deleted", "--json").json()
    assert only["total"] == 1

    out_csv, out_json = tmp_path / "audit.csv", tmp_path / "audit.json"
    assert agentpost("audit", "export", "--format", "csv", "--output", str(out_csv)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [r["operation"] for r in rows] == [
        "config.deleted", "config.created", "config.created", "key.created",
    ]  # fmt: skip
    assert json.loads(rows[0]["detail"]) == {"connection_name": "a"}
    assert (
        agentpost("audit", "export", "--format", "json", "--output", str(out_json)).exit_code == 0
    )
    exported = json.loads(out_json.read_text())
    assert [r["seq"] for r in exported] == [4, 3, 2, 1] and exported[0]["at"].endswith("Z")
    for text in (out_csv.read_text(), out_json.read_text()):
        assert PASSWORD not in text
    assert agentpost("audit", "export", "--format", "xml").exit_code == 2

    verified = agentpost("audit", "verify", "--json")
    assert verified.exit_code == 0 and verified.json()["ok"] is True
    assert verified.json()["checked"] == 4


def test_audit_verify_reports_tampering(agentpost: Invoke, data_dir: Path) -> None:
    import sqlite3

    add(agentpost, "a", "--preset", "gmail")
    add(agentpost, "b", "--preset", "gmail")
    with sqlite3.connect(data_dir / "agentpost.db") as db:
        db.execute("UPDATE audit_log SET error = 'edited' WHERE seq = 1")
    broken = agentpost("audit", "verify")
    assert broken.exit_code == 1
    assert "broken at row 1" in broken.stdout
