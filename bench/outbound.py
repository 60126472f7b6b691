"""Outbound throughput end to end: POST /mail/send → queue → worker → Postfix's smtp-sink,
next to Postfix relaying the same load to the same sink, in the same run.

AgentPost: ``agentpost serve --role api,worker`` as its own process on a fresh file-backed
SQLite database with the production durability (WAL, ``synchronous=FULL``), one agent and one
SMTP configuration pointing at smtp-sink on 127.0.0.1. The load is N messages with a 2 KB body
sent by C concurrent API clients (keep-alive HTTP). Accepted = every POST answered; delivered =
every delivery row is ``delivered`` (recorded after the sink's 250), read from the database.

Postfix: a relay (smtpd on 127.0.0.1, ``relayhost`` = the same smtp-sink, default queue
settings) loaded by ``smtp-source -s C -m N -l 2048``; delivered = N ``status=sent`` lines in
its log. The system's /etc/postfix/main.cf and master.cf are backed up and restored.

    .venv/bin/python bench/outbound.py                       # 5000 messages, 10 clients
    .venv/bin/python bench/outbound.py --messages 2000 --clients 20 --phases
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

MASTER_KEY = "mk_" + "b0" * 24
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX_FILES = ("/etc/postfix/main.cf", "/etc/postfix/master.cf")
HTTP_LINE = re.compile(r"AgentPost HTTP listening on (http://\S+)")
TIMEOUT = 600.0


@dataclass
class Result:
    name: str
    accepted_s: float
    delivered_s: float
    messages: int
    cpu_s: float | None = None

    def line(self) -> str:
        cpu = f", server CPU {self.cpu_s:.1f} s" if self.cpu_s is not None else ""
        return (
            f"{self.name}: accepted {self.messages / self.accepted_s:.0f} msg/s, "
            f"delivered end to end {self.messages / self.delivered_s:.0f} msg/s "
            f"({self.delivered_s:.2f} s){cpu}"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[int]:
    port = free_port()
    sink = subprocess.Popen(
        [SMTP_SINK, "-u", "nobody", "-m", "1024", f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port)
        yield port
    finally:
        sink.terminate()
        sink.wait(10)


def _wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- AgentPost ----------------------------------------------------------------------------


def _env(data_dir: Path, roles: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPOST_")}
    env.update(
        AGENTPOST_DATA_DIR=str(data_dir),
        AGENTPOST_MASTER_KEY=MASTER_KEY,
        AGENTPOST_DOMAIN="example.com",
        AGENTPOST_ROLES=roles,
        AGENTPOST_HTTP_PORT="0",
        AGENTPOST_LOG_LEVEL="WARNING",
        # The benchmark measures throughput, not the per-agent send limits.
        AGENTPOST_DEFAULT_DAILY_SEND_LIMIT="0",
        AGENTPOST_DEFAULT_HOURLY_SEND_LIMIT="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def _serve(data_dir: Path, roles: str) -> tuple[subprocess.Popen[str], str | None]:
    command = [sys.executable, "-m", "agentpost", "serve"]
    process = subprocess.Popen(
        command, env=_env(data_dir, roles), stdout=subprocess.PIPE, stderr=None, text=True
    )
    assert process.stdout is not None
    url = None
    for line in process.stdout:
        if found := HTTP_LINE.search(line):
            url = found.group(1)
        if "AgentPost ready" in line:
            return process, url
    raise SystemExit(f"agentpost serve ({roles}) exited before it was ready")


def _cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "agentpost", *args],
        env=_env(data_dir, "api"),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _delivered(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        row = conn.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()
        return int(row[0])


async def _load(url: str, key: str, messages: int, clients: int, body: str) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url + "/api/v1", limits=limits, timeout=120) as http:
        headers = {"Authorization": f"Bearer {key}"}
        numbers = iter(range(messages))

        async def client() -> None:
            for n in numbers:
                answer = await http.post(
                    "/mail/send",
                    headers=headers,
                    json={"to": f"rcpt{n % 50}@example.test", "subject": f"m{n}", "text": body},
                )
                if answer.status_code != 200 or answer.json()["status"] != "queued":
                    raise SystemExit(f"send {n} failed: {answer.status_code} {answer.text}")

        await asyncio.gather(*(client() for _ in range(clients)))


async def _configure(url: str, sink_port: int) -> None:
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as http:
        answer = await http.post(
            "/smtp-configs",
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            json={
                "connectionName": "smtp-sink",
                "host": "127.0.0.1",
                "port": sink_port,
                "security": "none",
                "fromEmail": "bench@example.com",
                "isDefault": True,
            },
        )
        if answer.status_code != 201:
            raise SystemExit(f"could not create the SMTP configuration: {answer.text}")


def _wait_delivered(db: Path, messages: int, since: float) -> float:
    while _delivered(db) < messages:
        if time.perf_counter() - since > TIMEOUT:
            raise SystemExit(f"only {_delivered(db)} of {messages} delivered")
        time.sleep(0.02)
    return time.perf_counter() - since


def _prepare(url: str, data_dir: Path, sink_port: int) -> str:
    key = json.loads(_cli(data_dir, "agent", "create", "bench", "--json"))["apiKey"]
    asyncio.run(_configure(url, sink_port))
    return str(key)


def run_agentpost(args: argparse.Namespace, sink_port: int, data_dir: Path) -> Result:
    """One process with both roles, as ``agentpost serve`` runs by default."""
    server, url = _serve(data_dir, "api,worker")
    try:
        assert url is not None
        key = _prepare(url, data_dir, sink_port)
        body = ("x" * 75 + "\n") * (args.size // 76) or "x"
        cpu_before = cpu_seconds(server.pid)
        started = time.perf_counter()
        asyncio.run(_load(url, key, args.messages, args.clients, body))
        accepted = time.perf_counter() - started
        delivered = _wait_delivered(data_dir / "agentpost.db", args.messages, started)
        cpu = cpu_seconds(server.pid) - cpu_before
        return Result("AgentPost", accepted, delivered, args.messages, cpu)
    finally:
        server.terminate()
        server.wait(30)


def run_phases(args: argparse.Namespace, sink_port: int, data_dir: Path) -> None:
    """Where the time goes: the API alone accepts the load (no worker running), then a
    worker process alone drains the full queue; CPU per message for each."""
    api, url = _serve(data_dir, "api")
    try:
        assert url is not None
        key = _prepare(url, data_dir, sink_port)
        body = ("x" * 75 + "\n") * (args.size // 76) or "x"
        cpu_before = cpu_seconds(api.pid)
        started = time.perf_counter()
        asyncio.run(_load(url, key, args.messages, args.clients, body))
        accepted = time.perf_counter() - started
        api_cpu = cpu_seconds(api.pid) - cpu_before
        worker, _ = _serve(data_dir, "worker")
        try:
            started = time.perf_counter()
            drained = _wait_delivered(data_dir / "agentpost.db", args.messages, started)
            worker_cpu = cpu_seconds(worker.pid)
        finally:
            worker.terminate()
            worker.wait(30)
    finally:
        api.terminate()
        api.wait(30)
    n = args.messages
    print(
        f"phases: API alone accepted {n / accepted:.0f} msg/s "
        f"({api_cpu / n * 1000:.1f} ms CPU per message); worker alone drained "
        f"{n / drained:.0f} msg/s ({worker_cpu / n * 1000:.1f} ms CPU per message, "
        "start-up included)"
    )


# -- Postfix ------------------------------------------------------------------------------


def _postconf(*args: str) -> None:
    subprocess.run(["postconf", *args], check=True, stdout=subprocess.DEVNULL)


def run_postfix(args: argparse.Namespace, sink_port: int, scratch: Path) -> Result:
    backups = {path: Path(path).read_bytes() for path in POSTFIX_FILES}
    log = scratch / "postfix.log"
    smtpd_port = free_port()
    try:
        _postconf(
            "-e",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "default_transport = smtp",
            "relay_transport = smtp",
            f"relayhost = [127.0.0.1]:{sink_port}",
            "mydestination =",
            f"maillog_file_prefixes = /var, /dev/stdout, {log.parent}",
            f"maillog_file = {log}",
            "smtpd_relay_restrictions = permit_mynetworks reject",
        )
        _postconf("-M#", "smtp/inet")
        service = f"127.0.0.1:{smtpd_port}/inet"
        _postconf("-Me", f"{service} = {service.replace('/', ' ')} n - n - - smtpd")
        subprocess.run(["postsuper", "-d", "ALL"], check=False, capture_output=True)
        started = subprocess.run(["postfix", "start"], capture_output=True, text=True)
        if started.returncode != 0:
            raise SystemExit(f"postfix start failed: {started.stderr.strip()}")
        _wait_listening(smtpd_port)
        return _postfix_load(args, smtpd_port, log)
    finally:
        subprocess.run(["postfix", "stop"], check=False, capture_output=True)
        for path, content in backups.items():
            Path(path).write_bytes(content)


def _postfix_load(args: argparse.Namespace, smtpd_port: int, log: Path) -> Result:
    command = [SMTP_SOURCE, "-s", str(args.clients), "-m", str(args.messages)]
    command += ["-l", str(args.size), "-f", "bench@example.com", "-t", "rcpt@example.test"]
    command += ["-M", "bench.example.com", f"127.0.0.1:{smtpd_port}"]
    print("$", " ".join(command))
    started = time.perf_counter()
    subprocess.run(command, check=True)
    accepted = time.perf_counter() - started
    while (sent := log.read_text(errors="replace").count("status=sent")) < args.messages:
        if time.perf_counter() - started > TIMEOUT:
            raise SystemExit(f"Postfix relayed only {sent} of {args.messages}")
        time.sleep(0.02)
    return Result("Postfix relay", accepted, time.perf_counter() - started, args.messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--size", type=int, default=2048, help="body bytes per message")
    parser.add_argument(
        "--phases", action="store_true", help="also time accepting and draining separately"
    )
    parser.add_argument("--skip-postfix", action="store_true")
    args = parser.parse_args()
    for tool in (SMTP_SINK, SMTP_SOURCE):
        if not Path(tool).exists():
            raise SystemExit(f"{tool} is missing: apt-get install postfix (see research/deps.md)")
    scratch = Path(tempfile.mkdtemp(prefix="agentpost-outbound-"))
    try:
        with smtp_sink() as sink_port:
            ours = run_agentpost(args, sink_port, scratch / "data")
            print(ours.line())
            if args.phases:
                run_phases(args, sink_port, scratch / "phases")
            if args.skip_postfix:
                return
            theirs = run_postfix(args, sink_port, scratch)
            print(theirs.line())
        ratio = (args.messages / ours.delivered_s) / (args.messages / theirs.delivered_s)
        print(f"ratio AgentPost / Postfix (end to end): {ratio:.2f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
