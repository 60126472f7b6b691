"""Outbound throughput end to end: POST /mail/send → queue → worker → Postfix's smtp-sink,
next to Postfix relaying the same load to the same sink, in the same run.

AgentPost: ``agentpost serve --role api,worker`` as its own process on a fresh file-backed
SQLite database with the production durability (WAL, ``synchronous=FULL``), one agent and one
SMTP configuration pointing at smtp-sink on 127.0.0.1. The load is N messages with a 2 KB body
sent over C concurrent keep-alive HTTP/1.1 connections by a minimal asyncio-streams client
(its CPU per message is printed: it shares the cores with the server). Accepted = every POST
answered; delivered = every delivery row is ``delivered`` (recorded after the sink's 250), read
from the database.

Postfix: a relay (smtpd on 127.0.0.1, ``relayhost`` = the same smtp-sink, default queue
settings) loaded by ``smtp-source -s C -m N -l 2048``; delivered = N ``status=sent`` lines in
its log. The system's /etc/postfix/main.cf and master.cf are backed up and restored.

    .venv/bin/python bench/outbound.py                       # 5000 messages, 10 clients
    .venv/bin/python bench/outbound.py --messages 2000 --clients 20 --phases
    .venv/bin/python bench/outbound.py --messages 3000 --split --rounds 3   # medians
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

MASTER_KEY = "mk_" + "b0" * 24
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX_FILES = ("/etc/postfix/main.cf", "/etc/postfix/master.cf")
HTTP_LINE = re.compile(r"AgentPost HTTP listening on (http://\S+)")
TIMEOUT = 600.0
REQUEST_TIMEOUT = 120.0


@dataclass
class Result:
    name: str
    accepted_s: float
    delivered_s: float
    messages: int
    cpu_s: float | None = None
    load_cpu_s: float | None = None  # the load generator's own CPU (bench client, smtp-source)

    def line(self) -> str:
        cpu = f", server CPU {self.cpu_s:.1f} s" if self.cpu_s is not None else ""
        if self.load_cpu_s is not None:
            per_message = self.load_cpu_s / self.messages * 1000
            cpu += f", load generator CPU {per_message:.2f} ms per message"
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


def _serve(data_dir: Path, roles: str, **settings: str) -> tuple[subprocess.Popen[str], str | None]:
    command = [sys.executable, "-m", "agentpost", "serve"]
    env = _env(data_dir, roles) | {f"AGENTPOST_{k.upper()}": v for k, v in settings.items()}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=None, text=True)
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


# -- The load generator -------------------------------------------------------------------
# httpx costs about 3.5 ms of CPU per request on this machine, taken from the two cores the
# server needs, while smtp-source (C) loads Postfix almost for free. So the measured sends go
# through this minimal HTTP/1.1 client: the constant request bytes are built once, and a
# response is parsed only as far as correctness needs (status, framing, the JSON answer).


class _ClosedBeforeAnswer(Exception):
    """The server closed the connection before sending any byte of the response: on a reused
    keep-alive connection this is the server dropping an idle connection, so resend once."""


@dataclass(frozen=True)
class SendRequests:
    """Renders POST /api/v1/mail/send for message n; only the JSON body differs per message."""

    host: str
    port: int
    head: bytes
    text_json: bytes

    @classmethod
    def build(cls, url: str, key: str, body: str) -> SendRequests:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise SystemExit(f"the load generator needs an http://host:port URL, got {url}")
        head = (
            f"POST {parts.path.rstrip('/')}/api/v1/mail/send HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\n"
            f"Authorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: "
        ).encode("ascii")
        return cls(parts.hostname, parts.port, head, json.dumps(body).encode("ascii"))

    def render(self, n: int) -> bytes:
        payload = b'{"to":"rcpt%d@example.test","subject":"m%d","text":%s}' % (
            n % 50,
            n,
            self.text_json,
        )
        return b"%s%d\r\n\r\n%s" % (self.head, len(payload), payload)


@dataclass
class Answer:
    status: int
    body: bytes
    keep_alive: bool


class KeepAliveConnection:
    """One HTTP/1.1 connection reused for request after request; reopened when the server
    closes it (idle timeout, ``Connection: close``)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._answered = 0  # responses read on the current connection

    async def exchange(self, request: bytes) -> Answer:
        if self._reader is None or self._reader.at_eof():
            await self._reconnect()
        reused = self._answered > 0
        try:
            answer = await self._round_trip(request)
        except _ClosedBeforeAnswer:
            # Only a reused connection may have been dropped by the server while idle; a
            # fresh one closing at once is a real failure (so the resend below fails loudly).
            if not reused:
                failure = f"{self.host}:{self.port} closed a new connection unanswered"
                raise SystemExit(failure) from None
            await self._reconnect()
            return await self.exchange(request)
        self._answered += 1
        if not answer.keep_alive:
            await self.close()
        return answer

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def _reconnect(self) -> None:
        await self.close()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._answered = 0

    async def _round_trip(self, request: bytes) -> Answer:
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(request)
            await self._writer.drain()
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as closed:
            if closed.partial:
                raise SystemExit(f"truncated response head: {closed.partial!r}") from None
            raise _ClosedBeforeAnswer from None
        except (ConnectionResetError, BrokenPipeError):
            raise _ClosedBeforeAnswer from None
        return await read_answer(self._reader, head)


async def read_answer(reader: asyncio.StreamReader, head: bytes) -> Answer:
    """The rest of one response after its head; interim 1xx answers are skipped."""
    status, headers, http10 = parse_head(head)
    while 100 <= status < 200:
        status, headers, http10 = parse_head(await reader.readuntil(b"\r\n\r\n"))
    connection = headers.get(b"connection", b"").lower()
    keep_alive = b"keep-alive" in connection if http10 else b"close" not in connection
    try:
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            body = await read_chunked(reader)
        elif (length := headers.get(b"content-length")) is not None:
            if not length.isdigit():
                raise SystemExit(f"bad Content-Length in a {status} answer: {length!r}")
            body = await reader.readexactly(int(length))
        else:
            # Neither framing: the body runs to the end of the connection.
            body, keep_alive = await reader.read(), False
    except asyncio.IncompleteReadError as cut:
        raise SystemExit(f"truncated response body ({status}): {cut.partial!r}") from None
    return Answer(status, body, keep_alive)


def parse_head(head: bytes) -> tuple[int, dict[bytes, bytes], bool]:
    """Status code, lower-cased header names to values, and whether the answer is HTTP/1.0."""
    status_line, *lines = head[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise SystemExit(f"not an HTTP/1.x status line: {status_line!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise SystemExit(f"malformed response header: {line!r}")
        headers[name.strip().lower()] = value.strip()
    return int(code), headers, version == b"HTTP/1.0"


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise SystemExit("malformed chunked response: no CRLF after a chunk")
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailer fields, unused
    return b"".join(chunks)


def _queued(answer: Answer) -> bool:
    if answer.status != 200:
        return False
    try:
        decoded = json.loads(answer.body)
    except ValueError:
        return False
    return isinstance(decoded, dict) and decoded.get("status") == "queued"


async def _load(url: str, key: str, messages: int, clients: int, body: str) -> None:
    requests = SendRequests.build(url, key, body)
    numbers = iter(range(messages))

    async def client() -> None:
        connection = KeepAliveConnection(requests.host, requests.port)
        try:
            for n in numbers:
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        answer = await connection.exchange(requests.render(n))
                except TimeoutError:
                    raise SystemExit(f"send {n}: no answer in {REQUEST_TIMEOUT:.0f} s") from None
                if not _queued(answer):
                    text = answer.body.decode(errors="replace")
                    raise SystemExit(f"send {n} failed: {answer.status} {text}")
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))


def own_cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


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


def run_agentpost(
    args: argparse.Namespace, sink_port: int, data_dir: Path, *, split: bool = False
) -> Result:
    """One process with both roles, as ``agentpost serve`` runs by default; or (``split``)
    an API process and a delivery-worker process on the same SQLite file."""
    server, url = _serve(data_dir, "api" if split else "api,worker")
    processes = [server]
    try:
        assert url is not None
        key = _prepare(url, data_dir, sink_port)
        if split:
            # Woken by each send through the event relay (storage/local_channel.py).
            processes.append(_serve(data_dir, "worker")[0])
        body = ("x" * 75 + "\n") * (args.size // 76) or "x"
        cpu_before = sum(cpu_seconds(p.pid) for p in processes)
        load_cpu_before = own_cpu_seconds()
        started = time.perf_counter()
        asyncio.run(_load(url, key, args.messages, args.clients, body))
        accepted = time.perf_counter() - started
        load_cpu = own_cpu_seconds() - load_cpu_before
        delivered = _wait_delivered(data_dir / "agentpost.db", args.messages, started)
        cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
        name = "AgentPost, API and worker processes" if split else "AgentPost"
        return Result(name, accepted, delivered, args.messages, cpu, load_cpu)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


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
    # smtp-source is the only child reaped while it runs, so the children's CPU delta is its.
    load_cpu_before = own_cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    accepted = time.perf_counter() - started
    load_cpu = own_cpu_seconds(resource.RUSAGE_CHILDREN) - load_cpu_before
    while (sent := log.read_text(errors="replace").count("status=sent")) < args.messages:
        if time.perf_counter() - started > TIMEOUT:
            raise SystemExit(f"Postfix relayed only {sent} of {args.messages}")
        time.sleep(0.02)
    delivered = time.perf_counter() - started
    return Result("Postfix relay", accepted, delivered, args.messages, load_cpu_s=load_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--size", type=int, default=2048, help="body bytes per message")
    parser.add_argument(
        "--phases", action="store_true", help="also time accepting and draining separately"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="also run the API and the delivery worker as two processes on one SQLite file",
    )
    parser.add_argument("--skip-postfix", action="store_true")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run everything this many times, alternating, and print each ratio's median",
    )
    args = parser.parse_args()
    for tool in (SMTP_SINK, SMTP_SOURCE):
        if not Path(tool).exists():
            raise SystemExit(f"{tool} is missing: apt-get install postfix (see research/deps.md)")
    scratch = Path(tempfile.mkdtemp(prefix="agentpost-outbound-"))
    ratios: dict[str, list[float]] = {}
    try:
        with smtp_sink() as sink_port:
            for number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"-- round {number} of {args.rounds}")
                round_dir = scratch / f"round-{number}"
                round_dir.mkdir()
                for name, ratio in run_round(args, sink_port, round_dir).items():
                    ratios.setdefault(name, []).append(ratio)
            if args.phases:
                run_phases(args, sink_port, scratch / "phases")
        if args.rounds > 1:
            for name, values in ratios.items():
                shown = ", ".join(f"{v:.2f}" for v in values)
                print(f"median ratio {name} / Postfix: {statistics.median(values):.2f} ({shown})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_round(args: argparse.Namespace, sink_port: int, scratch: Path) -> dict[str, float]:
    """AgentPost (one process, and split with ``--split``), then Postfix, on the same load;
    returns each way's ratio to Postfix (none with ``--skip-postfix``). A machine's speed
    drifts between runs, so each ratio is taken within one round."""
    ours = [run_agentpost(args, sink_port, scratch / "data")]
    print(ours[0].line())
    if args.split:
        ours.append(run_agentpost(args, sink_port, scratch / "split", split=True))
        print(ours[-1].line())
    if args.skip_postfix:
        return {}
    theirs = run_postfix(args, sink_port, scratch)
    print(theirs.line())
    ratios = {}
    for result in ours:  # same N on both sides: the rates' ratio is the times' inverse
        ratios[result.name] = theirs.delivered_s / result.delivered_s
        print(f"ratio {result.name} / Postfix (end to end): {ratios[result.name]:.2f}")
    return ratios


if __name__ == "__main__":
    main()
