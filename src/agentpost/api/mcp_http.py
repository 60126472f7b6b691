"""MCP over streamable HTTP at ``/mcp``: the tools of ``agentpost mcp`` for hosts that connect
to a URL instead of starting a process.

Every request carries the agent's key (``Authorization: Bearer ak_…``) and is authenticated
before the MCP layer sees it: no key, 401; an owner or master key, 403 (the MCP tools act as
one agent, and the master-key tools stay with the stdio server, where the operator sets the
key). The tools run exactly as over stdio and function calling: the server's client talks to
this same app in-process with the caller's key, so permissions, limits and answers are the
API's own.

The transport is stateless (each POST is answered on its own), so any process serving the API
can answer any request. One MCP server per key is kept, with its session manager running in a
task of its own for as long as the app runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from agentpost.api.errors import error_response
from agentpost.api.in_process import in_process_client
from agentpost.client import AgentPostClient
from agentpost.errors import AgentPostError, Unauthenticated
from agentpost.mcp.server import build_server
from agentpost.services import accounts
from agentpost.services.context import AppContext

PATH = "/mcp"
MAX_SERVERS = 1_000  # one per agent key in use; beyond this the oldest is stopped


@dataclass
class _Running:
    """One agent's MCP server and the task that keeps its session manager running."""

    manager: StreamableHTTPSessionManager
    client: AgentPostClient
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class McpEndpoint:
    """The ASGI endpoint at ``/mcp``. ``app`` is the whole API app, which the tools call."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._app: ASGIApp | None = None
        self._servers: dict[str, _Running] = {}
        self._starting = asyncio.Lock()

    def attach(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        token = _bearer(Headers(scope=scope))
        try:
            if token is None:
                raise Unauthenticated(
                    "missing API key: send the header Authorization: Bearer <key>"
                )
            principal = await accounts.authenticate(self._ctx, token)
            principal.require_agent()
        except AgentPostError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.field)
            await response(scope, receive, send)
            return
        running = await self._server_for(token)
        await running.manager.handle_request(scope, receive, send)

    async def _server_for(self, token: str) -> _Running:
        digest = self._ctx.keys.hash(token)
        async with self._starting:
            running = self._servers.get(digest)
            if running is None:
                if len(self._servers) >= MAX_SERVERS:
                    await self._stop(self._servers.pop(next(iter(self._servers))))
                running = self._servers[digest] = await self._start(token)
        return running

    async def _start(self, token: str) -> _Running:
        assert self._app is not None, "McpEndpoint.attach(app) was not called"
        client = in_process_client(self._app, token)
        server: MCPServer = build_server(client)
        server.streamable_http_app(  # builds the session manager; its Starlette app is unused
            stateless_http=True,
            json_response=True,
            # The bearer key is checked above and is never ambient (no cookie): DNS
            # rebinding cannot borrow it, and the Host header may be any name of this server.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager
        running = _Running(manager, client)
        started = asyncio.Event()

        async def hold() -> None:
            async with manager.run():
                started.set()
                await running.stop.wait()

        running.task = asyncio.create_task(hold(), name="agentpost-mcp-http")
        await started.wait()
        return running

    async def _stop(self, running: _Running) -> None:
        running.stop.set()
        if running.task is not None:
            await running.task
        await running.client.aclose()

    async def close(self) -> None:
        """Stop every agent's MCP server (the app is shutting down)."""
        servers, self._servers = list(self._servers.values()), {}
        for running in servers:
            await self._stop(running)


def _bearer(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
