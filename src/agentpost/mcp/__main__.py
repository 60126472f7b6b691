"""``python -m agentpost.mcp`` serves the MCP tools on stdio."""

from agentpost.mcp import main

main()
