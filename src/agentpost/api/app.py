"""The FastAPI application: routers under every API prefix, error mapping, body limit.

``create_app`` only builds the app; it starts nothing (the runtime runs uvicorn and the other
roles). The service context lives on ``app.state.ctx``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentpost import __version__
from agentpost.api.errors import error_response, install_error_handlers
from agentpost.api.mcp_http import PATH as MCP_PATH
from agentpost.api.mcp_http import McpEndpoint
from agentpost.api.routes import accounts, batch, events, folders, health, mail
from agentpost.api.routes import agent_messages as agent_message_routes
from agentpost.api.routes import audit as audit_routes
from agentpost.api.routes import content as content_routes
from agentpost.api.routes import delivery as delivery_routes
from agentpost.api.routes import gateway as gateway_routes
from agentpost.api.routes import lifecycle as lifecycle_routes
from agentpost.api.routes import pending as pending_routes
from agentpost.api.routes import permissions as permission_routes
from agentpost.api.routes import rules as rule_routes
from agentpost.api.routes import smtp_configs as smtp_config_routes
from agentpost.api.routes import spam as spam_routes
from agentpost.api.routes import tags as tag_routes
from agentpost.api.routes import tasks as task_routes
from agentpost.api.routes import tools as tool_routes
from agentpost.api.schemas import ErrorPublic
from agentpost.api.send_lane import lane_route
from agentpost.api.streams import (
    MAX_STREAMS_PER_AGENT,
    MAX_WAITS_PER_AGENT,
    PING_SECONDS,
    StreamSlots,
)
from agentpost.config import Settings
from agentpost.services.context import AppContext

API_PREFIX = "/api/v1"
# Clients of the original AgenticMail keep working against the same routes.
COMPAT_PREFIX = "/api/agenticmail"
# Requests are matched against the routes in this order, one by one: the mail routes, sends
# above all, come first.
KEYED_ROUTERS = (
    mail.router,
    accounts.router,
    smtp_config_routes.router,
    audit_routes.router,
    folders.router,
    batch.router,
    events.router,
    permission_routes.router,
    lifecycle_routes.router,
    tool_routes.router,
    content_routes.router,
    tag_routes.router,
    rule_routes.router,
    task_routes.router,
    agent_message_routes.router,
    pending_routes.router,
    gateway_routes.router,
    gateway_routes.mail_router,
    delivery_routes.router,
    spam_routes.router,
)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic, "description": description}
    for status, description in (
        (400, "Invalid input (`invalid_input`, `invalid_json`, `header_injection`, …)"),
        (401, "Missing or unknown API key (`unauthorized`)"),
        (403, "The wrong kind of key (`agent_key_required`, `owner_key_required`, …)"),
        (404, "Not found (`message_not_found`, `folder_not_found`, `agent_not_found`, …)"),
    )
}
# Base64 grows attachments by 4/3; JSON escaping and the other fields need a little more.
BODY_OVERHEAD_RATIO = 1.4
BODY_OVERHEAD_BYTES = 64 * 1024


def max_body_bytes(settings: Settings) -> int:
    return int(settings.max_message_bytes * BODY_OVERHEAD_RATIO) + BODY_OVERHEAD_BYTES


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the streamed body passes the limit. An HTTPException,
    because FastAPI turns any other error while reading a body into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


class BodyLimitMiddleware:
    """413 for bodies over the limit: at once when Content-Length says so, otherwise as soon
    as the streamed bytes pass it (chunked uploads have no Content-Length)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.limit:
                await self._refuse(scope, receive, send)
                return
            # The server reads no more body than Content-Length says: nothing to watch.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = BodyTooLarge(self.limit).detail
        await error_response(413, "payload_too_large", detail)(scope, receive, send)


def _openapi_without_422(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI documents validation failures as 422; this API answers them with 400."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        return schema

    return openapi


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="AgentPost",
        version=__version__,
        summary="Email for AI agents: mailboxes, sending, search, threading and events.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.event_streams = StreamSlots(MAX_STREAMS_PER_AGENT, "event streams")
    app.state.mail_waits = StreamSlots(MAX_WAITS_PER_AGENT, "mail waits")
    app.state.ping_seconds = PING_SECONDS
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=max_body_bytes(ctx.settings))
    for prefix, documented in ((API_PREFIX, True), (COMPAT_PREFIX, False)):
        # Sends are matched by their short path first (api/send_lane.py).
        app.router.routes.insert(0, lane_route(f"{prefix}/mail/send", ctx, app.router))
        # One schema is enough: the compatibility prefix serves the very same operations.
        app.include_router(health.router, prefix=prefix, include_in_schema=documented)
        for router in KEYED_ROUTERS:
            app.include_router(
                router, prefix=prefix, responses=ERROR_RESPONSES, include_in_schema=documented
            )
    mcp_endpoint = McpEndpoint(ctx)
    mcp_endpoint.attach(app)
    app.state.mcp = mcp_endpoint
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp_endpoint, include_in_schema=False))
    app.router.add_event_handler("shutdown", mcp_endpoint.close)
    app.openapi = _openapi_without_422(app)  # type: ignore[method-assign]
    return app
