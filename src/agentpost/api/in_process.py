"""A client of this very app, in-process: how function calling (``/tools``) and MCP over HTTP
(``/mcp``) run the MCP tools with the caller's key, through the same routes, checks and
answers as any other client, without a network hop."""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp

from agentpost.client import AgentPostClient

BASE_URL = "http://agentpost.internal"  # never resolved: the transport calls the app directly


def in_process_client(app: ASGIApp, key: str) -> AgentPostClient:
    """An API client for ``key`` whose requests go straight to ``app``."""
    return AgentPostClient(BASE_URL, key, transport=httpx.ASGITransport(app=app))
