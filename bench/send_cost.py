"""What one POST /mail/send costs the API process, measured in process: CPU time, or (with
``--callgrind``) machine instructions, which do not move with the machine's load.

The API (``create_app``) runs in this process on a fresh file-backed SQLite database with the
production durability (WAL, ``synchronous=FULL``), one agent and one SMTP configuration; C
concurrent callers post N messages of the 2 KB body ``outbound.py`` sends, straight through
the ASGI interface (no sockets, no worker: the queue just fills). Printed: CPU time per send,
or instructions per send counted by valgrind's callgrind over the measured sends only (start-up
and a warm-up of 50 sends excluded; valgrind is the Debian package ``valgrind``).

Wall-clock rates on a shared machine move by a quarter between runs; instruction counts move
by about 2%, so an A/B of a change to the send path is best read from them:

    .venv/bin/python bench/send_cost.py                       # CPU ms per send, N=2000
    .venv/bin/python bench/send_cost.py --callgrind -n 300    # instructions per send
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/send_cost.py --callgrind -n 300  # another tree
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from agentpost.api import create_app
from agentpost.config import Settings
from agentpost.services import accounts, smtp_configs
from agentpost.services.context import build_context
from agentpost.testing import templates
from agentpost.testing.asgi import post_scope
from agentpost.testing.factories import admin_principal, make_agent

WARM_UP = 50
BODY = ("x" * 75 + "\n") * 26  # outbound.py's body: 2 KB of text
_MEASURING = "AGENTPOST_SEND_COST_CALLGRIND"  # set in the child valgrind runs

Asgi = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--sends", type=int, default=2000)
    parser.add_argument("-c", "--callers", type=int, default=10)
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    return parser.parse_args()


def _request(key: str, n: int) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"to": f"rcpt{n % 50}@example.test", "subject": f"m{n}", "text": BODY})
    raw = body.encode()
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
    ]
    scope = post_scope("/api/v1/mail/send", headers)
    return scope, raw


async def _send(app: Asgi, key: str, n: int) -> None:
    scope, body = _request(key, n)
    delivered = False
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [200]:
        raise SystemExit(f"send {n} answered {statuses}")


async def _run(sends: int, callers: int, count_instructions: bool) -> float:
    scratch = Path(tempfile.mkdtemp(prefix="agentpost-send-cost-"))
    try:
        settings = Settings(
            data_dir=scratch / "data",
            domain="example.com",
            default_daily_send_limit=0,
            default_hourly_send_limit=0,
        )
        templates.seed_sqlite(await templates.sqlite_template(scratch / "template"), settings)
        ctx = await build_context(settings)
        try:
            await accounts.ensure_bootstrap(ctx)
            config = {"connection_name": "sink", "host": "127.0.0.1", "port": 2525}
            config |= {"security": "none", "from_email": "bench@example.com"}
            await smtp_configs.create_config(ctx, await admin_principal(ctx), config)
            _agent, key = await make_agent(ctx, "bench")
            app: Asgi = create_app(ctx)

            async def phase(numbers: range) -> None:
                shared = iter(numbers)  # each caller takes the next number when it is free

                async def caller() -> None:
                    for n in shared:
                        await _send(app, key, n)

                await asyncio.gather(*(caller() for _ in range(callers)))

            await phase(range(WARM_UP))
            _callgrind(count_instructions, "on")
            started = time.process_time()
            await phase(range(WARM_UP, WARM_UP + sends))
            cpu = time.process_time() - started
            _callgrind(count_instructions, "off")
            return cpu
        finally:
            await ctx.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _callgrind(enabled: bool, state: str) -> None:
    if enabled:  # instrumentation of this process, which runs under valgrind
        command = ["callgrind_control", "--instr", state, str(os.getpid())]
        subprocess.run(command, check=True, capture_output=True)


def _under_callgrind(args: argparse.Namespace) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install valgrind")
    with tempfile.TemporaryDirectory() as scratch:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        command += [f"--callgrind-out-file={scratch}/callgrind.out", sys.executable, __file__]
        command += ["-n", str(args.sends), "-c", str(args.callers)]
        # The same hash seed and the plain allocator each time, for comparable counts.
        env = os.environ | {_MEASURING: "1", "PYTHONHASHSEED": "0", "PYTHONMALLOC": "malloc"}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise SystemExit(f"the valgrind run failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    per_send = int(found.group(1)) / args.sends / 1e6
    print(f"{args.sends} sends, {args.callers} callers: {per_send:.2f} M instructions per send")


def main() -> None:
    args = _arguments()
    if args.callgrind:
        _under_callgrind(args)
        return
    counting = os.environ.get(_MEASURING) == "1"
    cpu = asyncio.run(_run(args.sends, args.callers, counting))
    if not counting:
        per_send = cpu / args.sends * 1000
        print(f"{args.sends} sends, {args.callers} callers: {per_send:.2f} ms CPU per send")


if __name__ == "__main__":
    main()
