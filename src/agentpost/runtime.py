"""Running the server: one asyncio loop per process serving the roles it was given.

``run_server`` builds the service context once, bootstraps the master key (a newly generated
key is printed once, in a box, to the terminal, and never logged), starts the HTTP API
(uvicorn) and the SMTP listener on the same loop, announces the bound addresses on stdout, and
waits for SIGINT or SIGTERM to shut everything down in order: stop accepting HTTP, stop SMTP,
close the database.

The address lines are a small contract with scripts and tests that start the server on port 0:
``AgentPost HTTP listening on http://HOST:PORT`` and ``AgentPost SMTP listening on HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from agentpost.config import Settings
from agentpost.services.accounts import ensure_bootstrap
from agentpost.services.context import AppContext, build_context

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger("agentpost.runtime")

HTTP_BACKLOG = 1024
# Open HTTP streams (SSE, long polls) get this long to finish before they are cancelled.
GRACEFUL_SHUTDOWN_SECONDS = 5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ListenError(RuntimeError):
    """A listener could not bind its address (in use, not permitted, unknown host)."""


def announce_master_key(key: str, console: Console) -> None:
    """Show a newly generated master key once, in a box. It is stored only as a hash."""
    body = Text.assemble(
        ("Master key (admin): ", "bold"),
        (key, "bold green"),
        "\n\nSave it now: it is shown only this once and stored only as a hash.\n",
        "Send it as `Authorization: Bearer <key>`, or set AGENTPOST_MASTER_KEY to choose your own.",
    )
    console.print(Panel(body, title="AgentPost", expand=False))
    console.file.flush()


def configure_logging(level_name: str) -> None:
    """Log to stderr at the configured level; stdout is for announcements only."""
    level = logging.getLevelNamesMapping().get(level_name.upper())
    if level is None:
        raise ValueError(f"unknown log level {level_name!r}: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # These log every SQL statement at INFO and parameters (message bodies, key hashes) at
    # DEBUG, and imapclient every IMAP line of the relay gateway (mail content) at DEBUG: keep
    # them to warnings and errors.
    for noisy in ("aiosqlite", "sqlalchemy.engine", "asyncpg", "imapclient"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def say(line: str) -> None:
    """One plain, unwrapped line on stdout, flushed at once so a reader sees it."""
    print(line, flush=True)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, so the real port is known before the server starts (port 0)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(HTTP_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


class HttpListener:
    """uvicorn serving ``create_app(ctx)`` on a socket we bound, inside our own loop.

    ``uvicorn.Server.serve`` would install its own signal handlers and re-raise the signal
    after shutdown (exit status 143 on SIGTERM); driving startup, main loop and shutdown
    ourselves keeps signals in one place and lets the process exit 0.
    """

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._server = server
        self._sock = sock
        self._main: asyncio.Task[None] | None = None
        self.port: int = sock.getsockname()[1]

    @classmethod
    async def start(cls, ctx: AppContext) -> HttpListener:
        import uvicorn

        from agentpost.api import create_app

        config = uvicorn.Config(
            create_app(ctx),
            log_config=None,
            server_header=False,
            # Nothing reads the client's address, and the middleware costs every request.
            proxy_headers=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        config.load()
        host, port = ctx.settings.host, ctx.settings.http_port
        with listen_errors("HTTP", host, port):
            sock = bind_socket(host, port)
        listener = cls(uvicorn.Server(config), sock)
        await listener._startup(config)
        return listener

    async def _startup(self, config: uvicorn.Config) -> None:
        self._server.lifespan = config.lifespan_class(config)
        try:
            await self._server.startup(sockets=[self._sock])
        except BaseException:
            self._sock.close()
            raise
        self._main = asyncio.create_task(self._server.main_loop(), name="uvicorn-main-loop")

    def request_stop(self, signum: int) -> None:
        # A second SIGINT makes uvicorn drop open connections instead of waiting for them.
        self._server.handle_exit(signum, None)

    async def close(self) -> None:
        self._server.should_exit = True
        if self._main is not None:
            await self._main
        await self._server.shutdown(sockets=[self._sock])


class StopSignal:
    """SIGINT/SIGTERM set an event; listeners that want to know are told at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.listeners: list[Callable[[int], None]] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self.fire, signum)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)

    def fire(self, signum: int) -> None:
        logger.info("received %s, shutting down", signal.Signals(signum).name)
        self.event.set()
        for listener in self.listeners:
            listener(signum)


@contextlib.contextmanager
def listen_errors(what: str, host: str, port: int) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ListenError(f"cannot listen for {what} on {url_host(host)}:{port}: {reason}") from exc


async def start_roles(ctx: AppContext, stack: contextlib.AsyncExitStack, stop: StopSignal) -> None:
    """Start every role in the settings; each registers its own shutdown on the stack."""
    settings = ctx.settings
    roles = settings.role_set
    if "smtp" in roles:
        from agentpost.smtp import start_smtp

        with listen_errors("SMTP", settings.host, settings.smtp_port):
            smtp = await start_smtp(ctx, host=settings.host, port=settings.smtp_port)
        stack.push_async_callback(smtp.close)
        say(f"AgentPost SMTP listening on {url_host(settings.host)}:{smtp.port}")
    if "api" in roles:
        http = await HttpListener.start(ctx)
        stack.push_async_callback(http.close)
        stop.listeners.append(http.request_stop)
        say(f"AgentPost HTTP listening on http://{url_host(settings.host)}:{http.port}")
    if "scheduler" in roles:
        from agentpost.services.scheduler import start_scheduler

        scheduler = start_scheduler(ctx)  # scheduled sends
        stack.push_async_callback(scheduler.close)
        logger.info("scheduler role: scheduled sends started")
        from agentpost.services.task_sweeper import TaskSweeper

        sweeper = TaskSweeper(ctx).start()  # overdue tasks expire on time
        stack.push_async_callback(sweeper.close)
        from agentpost.services.relay_poller import RelayPoller

        poller = RelayPoller(ctx)  # relay accounts' IMAP inboxes
        await poller.start()
        stack.push_async_callback(poller.close)
    if "worker" in roles:
        from agentpost.delivery.worker import start_worker

        worker = start_worker(ctx)  # the outbound delivery queue
        # Closed before the database: in-flight sends finish and their outcomes are recorded.
        stack.push_async_callback(worker.close)
        logger.info("worker role: delivery worker %s started", worker.worker.name)
        from agentpost.delivery.notice_sender import start_notice_sender

        sender = start_notice_sender(ctx)  # mail to owners: approval requests and answers
        stack.push_async_callback(sender.close)


def describe_database(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


async def run_server(settings: Settings, console: Console | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly and return."""
    console = console or Console(highlight=False)
    configure_logging(settings.log_level)
    stop = StopSignal()
    stop.install()
    ctx = await build_context(settings)
    try:
        key = await ensure_bootstrap(ctx)
        if key is not None:
            announce_master_key(key, console)
        async with contextlib.AsyncExitStack() as stack:
            await start_roles(ctx, stack, stop)
            say(
                f"AgentPost ready (roles: {settings.roles}; "
                f"database: {describe_database(settings)}). Press Ctrl+C to stop."
            )
            await stop.event.wait()
        logger.info("stopped")
    finally:
        await ctx.close()
        stop.uninstall()
