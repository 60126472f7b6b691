"""The MCP server: AgentPost's mail tools for one agent, over the REST API.

``python -m agentpost.mcp`` (or ``main()``) serves them on stdio, configured by environment:
``AGENTPOST_API_URL`` (default ``http://127.0.0.1:3100``), ``AGENTPOST_API_KEY`` (the agent's
key) and ``AGENTPOST_MASTER_KEY`` (optional, for create_account and delete_agent); the
``AGENTICMAIL_*`` names of the original server are accepted too. ``build_server`` returns the
server itself, for tests and for mounting over streamable HTTP.
"""

from __future__ import annotations

from agentpost.mcp.main import McpConfig, main, serve_stdio
from agentpost.mcp.server import build_server

__all__ = ["McpConfig", "build_server", "main", "serve_stdio"]
