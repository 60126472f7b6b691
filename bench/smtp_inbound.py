"""Inbound SMTP throughput: Postfix's smtp-source against the listener, durable storage.

Starts the SMTP listener in this process (``agentpost.smtp.start_smtp``) on a file-backed
SQLite database with the production settings (WAL, ``synchronous=FULL``: every commit is on
disk before the 250), creates one agent, and runs

    smtp-source -s 10 -m 20000 -l 2048 -f a@example.com -t <agent>@localhost 127.0.0.1:PORT

(10 parallel sessions, one connection per message, 2 KB messages). The rate is messages
divided by the wall time of smtp-source; then the agent's INBOX must hold every message.

    .venv/bin/python bench/smtp_inbound.py
    .venv/bin/python bench/smtp_inbound.py --messages 5000 --sessions 50 --reuse --uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from agentpost.config import Settings
from agentpost.services import accounts, mailbox
from agentpost.services.context import AppContext, build_context
from agentpost.smtp import start_smtp

SMTP_SOURCE = "/usr/sbin/smtp-source"
TARGET_RATE = 650.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--size", type=int, default=2048, help="message length (smtp-source -l)")
    parser.add_argument("--reuse", action="store_true", help="reuse connections (smtp-source -d)")
    parser.add_argument("--uvloop", action="store_true", help="run the server on uvloop")
    parser.add_argument("--keep", action="store_true", help="keep the data dir afterwards")
    return parser.parse_args()


async def _stored(ctx: AppContext, agent_name: str) -> int:
    principal = await accounts.authenticate(ctx, "mk_bench")
    agent = await accounts.find_agent(ctx, principal, agent_name)
    page = await mailbox.list_folder(ctx, agent, "INBOX", limit=1, offset=0)
    return page.total


async def _run_source(args: argparse.Namespace, port: int, recipient: str) -> float:
    command = [SMTP_SOURCE, "-s", str(args.sessions), "-m", str(args.messages)]
    command += ["-l", str(args.size), "-f", "a@example.com", "-t", recipient]
    command += ["-M", "bench.example.com"] + (["-d"] if args.reuse else [])
    command.append(f"127.0.0.1:{port}")
    print("$", " ".join(command))
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(*command)
    if await process.wait() != 0:
        raise SystemExit(f"smtp-source failed with exit code {process.returncode}")
    return time.perf_counter() - started


async def bench(args: argparse.Namespace, data_dir: Path) -> float:
    settings = Settings(data_dir=data_dir, master_key="mk_bench", domain="localhost")
    ctx = await build_context(settings)
    try:
        await accounts.ensure_bootstrap(ctx)
        admin = await accounts.authenticate(ctx, "mk_bench")
        agent, _key = await accounts.create_agent(ctx, admin, name="bench")
        server = await start_smtp(ctx, host="127.0.0.1", port=0)
        try:
            cpu_before = time.process_time()
            elapsed = await _run_source(args, server.port, agent.address)
            cpu = time.process_time() - cpu_before
        finally:
            await server.close()
        stored = await _stored(ctx, agent.name)
    finally:
        await ctx.close()
    rate = args.messages / elapsed
    print(f"synchronous={settings.sqlite_synchronous.value}, database {settings.data_dir}")
    print(f"{args.messages} messages in {elapsed:.2f} s: {rate:.0f} msg/s")
    print(f"server CPU {cpu:.1f} s ({1000 * cpu / args.messages:.2f} ms per message)")
    print(f"stored in the INBOX: {stored}")
    if stored != args.messages:
        raise SystemExit(f"FAIL: {args.messages - stored} messages missing")
    verdict = "meets" if rate >= TARGET_RATE else "is below"
    print(f"{rate:.0f} msg/s {verdict} the {TARGET_RATE:.0f} msg/s target")
    return rate


def main() -> None:
    args = _arguments()
    if not Path(SMTP_SOURCE).exists():
        raise SystemExit(f"{SMTP_SOURCE} not found: install postfix (it ships smtp-source)")
    data_dir = Path(tempfile.mkdtemp(prefix="agentpost-bench-"))
    try:
        if args.uvloop:
            import uvloop

            uvloop.run(bench(args, data_dir))
        else:
            asyncio.run(bench(args, data_dir))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
