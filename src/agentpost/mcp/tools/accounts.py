"""Account tools: who am I, metadata, the agent directory, health, and (with the master key)
creating and deleting agents."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from agentpost.mcp import format as fmt
from agentpost.mcp.registry import NoArgs, ToolArgs, ToolContext, tool

Role = Literal["secretary", "assistant", "researcher", "writer", "custom"]


class UpdateMetadataArgs(ToolArgs):
    metadata: dict[str, Any] = Field(
        description="Keys to set on your metadata (merged); a null value removes that key."
    )


class CreateAccountArgs(ToolArgs):
    name: str = Field(min_length=1, description="Agent name; its address is name@domain.")
    domain: str | None = Field(default=None, description="Mail domain (default: the server's).")
    role: Role | None = Field(default=None, description="Agent role (default secretary).")


class DeleteAgentArgs(ToolArgs):
    name: str = Field(min_length=1, description="Name (or id) of the agent to delete.")
    reason: str | None = Field(default=None, description="Why; repeated in the answer.")


@tool(NoArgs, read_only=True)
async def check_health(ctx: ToolContext, args: NoArgs) -> str:
    """Check that the AgentPost server and its database are up."""
    health = await ctx.client.health()
    lines = [f"AgentPost server: {health.status} (version {health.version or 'unknown'})"]
    lines += [f"  {name}: {state}" for name, state in sorted(health.services.items())]
    return "\n".join(lines)


@tool(NoArgs, read_only=True)
async def whoami(ctx: ToolContext, args: NoArgs) -> str:
    """Show your agent account: name, address, role, id and metadata."""
    return fmt.agent(await ctx.client.me())


@tool(UpdateMetadataArgs)
async def update_metadata(ctx: ToolContext, args: UpdateMetadataArgs) -> str:
    """Merge keys into your account metadata (a null value removes a key)."""
    agent = await ctx.client.update_me(args.metadata)
    current = json.dumps(agent.metadata, ensure_ascii=False, sort_keys=True)
    return f"Metadata updated successfully. Agent: {agent.name}\nMetadata: {current}"


@tool(NoArgs, read_only=True)
async def list_agents(ctx: ToolContext, args: NoArgs) -> str:
    """List the agents on this server you can email, with their addresses and roles."""
    entries = await ctx.client.directory()
    if not entries:
        return "No agents found."
    lines = ["Agents in the system:"]
    lines += [f"  {e.name} ({e.email}) — {e.role}" for e in entries]
    return "\n".join(lines)


@tool(CreateAccountArgs, master_key=True)
async def create_account(ctx: ToolContext, args: CreateAccountArgs) -> str:
    """Create a new agent with its own mailbox and API key (needs the master key)."""
    agent = await ctx.admin_or_agent.create_account(args.name, role=args.role, domain=args.domain)
    return "\n".join(
        [
            "Account created successfully!",
            f"  Name: {agent.name}",
            f"  Email: {agent.email}",
            f"  Role: {agent.role}",
            f"  API Key: {agent.api_key}",
            f"  ID: {agent.id}",
            "The API key is shown only once: store it now.",
        ]
    )


@tool(DeleteAgentArgs, master_key=True, destructive=True)
async def delete_agent(ctx: ToolContext, args: DeleteAgentArgs) -> str:
    """Delete an agent and its mailbox for good (needs the master key)."""
    result = await ctx.admin_or_agent.delete_account(args.name)
    lines = [f'Agent "{result.name}" deleted successfully.', f"  Email: {result.email}"]
    if args.reason:
        lines.append(f"  Reason: {fmt.one_line(args.reason)}")
    return "\n".join(lines)


TOOLS = (check_health, whoami, update_metadata, list_agents, create_account, delete_agent)
