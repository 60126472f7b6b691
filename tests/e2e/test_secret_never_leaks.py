"""The secret-leak proof: a full owner scenario with one distinctive SMTP password, and a search
of everything that comes out for it, in plain text and encoded.

Create, list, show, update (with and without a new password), invalid requests carrying the
password, connection tests failing (wrong password, certificate) and succeeding, a send that the
delivery worker takes through the configuration to a real peer, the delivery report, the audit
log over the API and the CLI (list, export CSV and JSON, verify), ``smtp show/list/test`` and
``vault rotate`` on the CLI. Searched: every HTTP response body and header, every log record at
DEBUG from every logger (the peers' aiosmtpd included), every CLI output, the exported files
and the stored database bytes.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from agentpost.api import create_app
from agentpost.cli import app as cli_app
from agentpost.config import Settings
from agentpost.delivery.worker import start_worker
from agentpost.services import accounts
from agentpost.services.context import AppContext, build_context
from agentpost.testing.smtp_auth import auth_peer, self_signed_pair, server_context

pytestmark = pytest.mark.anyio

SECRET = "Zq9!leak-Canary-7Rw%x"
USER = "owner@example.com"
MASTER = "mk_" + "5e" * 24
V1 = "/api/v1"


def encodings(secret: str) -> list[str]:
    raw = secret.encode()
    plain_auth = f"\0{USER}\0{secret}".encode()  # AUTH PLAIN's payload (RFC 4616)
    forms = [secret, raw.hex(), raw.hex().upper()]
    for data in (raw, plain_auth):
        forms += [base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()]
    return forms


def leaks(text: str) -> list[str]:
    return [form for form in encodings(SECRET) if form in text]


def test_the_search_finds_each_encoding() -> None:
    auth_line = "AUTH PLAIN " + base64.b64encode(f"\0{USER}\0{SECRET}".encode()).decode()
    assert leaks(auth_line) and leaks(SECRET.encode().hex()) and leaks(f"x{SECRET}y")
    assert leaks(base64.b64encode(SECRET.encode()).decode())
    assert not leaks("nothing secret here")


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[AppContext]:
    settings = Settings(data_dir=tmp_path / "data", master_key=MASTER, delivery_poll_seconds=600)
    context = await build_context(settings)
    await accounts.ensure_bootstrap(context)
    yield context
    await context.close()


class Recorder:
    """Every HTTP response's status line, headers and body, as text."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.texts.append(f"{response.status_code} {dict(response.headers)}\n{response.text}")


async def cli(*args: str, data_dir: Path, input: str | None = None) -> str:
    def invoke() -> str:
        result = CliRunner().invoke(cli_app, [*args, "--data-dir", str(data_dir)], input=input)
        return f"{result.exit_code}\n{result.stdout}\n{result.stderr}"

    return await anyio.to_thread.run_sync(invoke)


async def owner_scenario(http: httpx.AsyncClient, port: int, bad_port: int, tls_port: int) -> str:
    """The API half; returns the configuration id."""
    admin = {"Authorization": f"Bearer {MASTER}"}
    body = {"connectionName": "canary", "host": "127.0.0.1", "port": port, "security": "none",
            "username": USER, "password": SECRET, "isDefault": True}  # fmt: skip
    created = await http.post(f"{V1}/smtp-configs", json=body, headers=admin)
    assert created.status_code == 201, created.text
    url = f"{V1}/smtp-configs/{created.json()['id']}"
    bad_bodies = [
        {**body, "connectionName": "x", "password": SECRET + "\n"},
        {**body, "connectionName": "x", "password": SECRET * 100},
        {**body, "connectionName": "x", "password": [SECRET]},
        {**body, "connectionName": "canary"},  # 409 with the password in the request
    ]
    for bad in bad_bodies:
        refused = await http.post(f"{V1}/smtp-configs", json=bad, headers=admin)
        assert refused.status_code in (400, 409), refused.text
    assert (await http.get(f"{V1}/smtp-configs", headers=admin)).status_code == 200
    assert (await http.get(url, headers=admin)).status_code == 200
    assert (await http.patch(url, json={"fromName": "Canary"}, headers=admin)).status_code == 200
    moved = await http.patch(url, json={"port": bad_port, "password": SECRET}, headers=admin)
    assert moved.status_code == 200, moved.text
    failing = await http.post(f"{url}/test", headers=admin)
    assert failing.json()["ok"] is False and failing.json()["code"] == 535
    tls = {"port": tls_port, "security": "starttls", "password": SECRET}
    assert (await http.patch(url, json=tls, headers=admin)).status_code == 200
    untrusted = await http.post(f"{url}/test", headers=admin)
    assert untrusted.json()["failure"] == "certificate_invalid"
    back = {"port": port, "security": "none", "password": SECRET}
    assert (await http.patch(url, json=back, headers=admin)).status_code == 200
    works = await http.post(f"{url}/test", headers=admin)
    assert works.json()["ok"] is True, works.text
    return str(created.json()["id"])


async def send_through(http: httpx.AsyncClient, ctx: AppContext) -> None:
    _agent, key = await accounts.create_agent(
        ctx, await accounts.admin_principal(ctx), name="alice"
    )
    headers = {"Authorization": f"Bearer {key}"}
    mail = {"to": "carol@example.org", "subject": "Figures", "text": "See attached."}
    sent = await http.post(f"{V1}/mail/send", json=mail, headers=headers)
    assert sent.status_code == 200, sent.text
    report_url = f"{V1}/mail/messages/{sent.json()['uid']}/delivery"
    with anyio.fail_after(30):
        while True:  # the worker delivers through the configuration; poll its report
            report = await http.get(report_url, headers=headers, params={"folder": "Sent"})
            if {r["status"] for r in report.json().get("recipients", [])} == {"delivered"}:
                return
            await anyio.sleep(0.05)


async def test_the_password_never_leaks(
    ctx: AppContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, every library
    recorder = Recorder()
    cert, key = self_signed_pair(tmp_path)
    data_dir = ctx.settings.data_dir
    outputs: list[str] = []
    worker = start_worker(ctx)
    try:
        async with (
            auth_peer(USER, SECRET) as peer,
            auth_peer(USER, "another-password") as bad_peer,
            auth_peer(USER, SECRET, tls=server_context(cert, key)) as tls_peer,
        ):
            transport = httpx.ASGITransport(app=create_app(ctx))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://agentpost.test",
                event_hooks={"response": [recorder]},
            ) as http:
                config_id = await owner_scenario(http, peer.port, bad_peer.port, tls_peer.port)
                await send_through(http, ctx)
                admin = {"Authorization": f"Bearer {MASTER}"}
                await http.get(f"{V1}/audit", headers=admin)
                await http.get(f"{V1}/audit/verify", headers=admin)
            assert len(peer.received) == 1  # the send really went through the password
            for args in (
                ("smtp", "list"), ("smtp", "list", "--json"), ("smtp", "show", config_id),
                ("smtp", "show", config_id, "--json"), ("smtp", "test", config_id, "--json"),
                ("audit", "list", "--json"), ("audit", "verify"), ("vault", "rotate", "--json"),
                ("smtp", "test", config_id),
            ):  # fmt: skip
                outputs.append(await cli(*args, data_dir=data_dir))
            for fmt in ("csv", "json"):
                target = tmp_path / f"audit.{fmt}"
                outputs.append(await cli("audit", "export", "--format", fmt, "--output",
                                         str(target), data_dir=data_dir))  # fmt: skip
                outputs.append(target.read_text())
    finally:
        await worker.close()
    assert outputs[-5].startswith("0\n"), outputs[-5]  # the test after rotation still works

    assert len(recorder.texts) >= 18  # every call above was recorded
    assert [t for t in recorder.texts if leaks(t)] == []
    records = caplog.records
    assert records  # DEBUG capture really ran
    logged = [f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in records]
    assert [line for line in logged if leaks(line)] == []
    assert [out for out in outputs if leaks(out)] == []
    stored = b"".join(p.read_bytes() for p in data_dir.glob("agentpost.db*") if p.is_file())
    assert [f for f in encodings(SECRET) if f.encode() in stored] == []
