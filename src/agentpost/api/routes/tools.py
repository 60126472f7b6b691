"""Function calling: the MCP tool registry offered as OpenAI/Anthropic tool definitions.

    GET  /tools?format=openai|anthropic   the tools the calling agent may use
    POST /tools/{name}                    run one with JSON arguments

One registry (``mcp.tools.ALL_TOOLS``) and one code path: a call runs the very ``ToolSpec``
the MCP server runs, with a ``ToolContext`` whose client talks to this same app in-process
(``httpx.ASGITransport``) under the caller's own key, so permissions, limits and answers are
identical to MCP. An agent is offered neither master-key tools nor, when its owner turned
sending off, the sending tools. ``wait_for_email`` runs in long-poll mode here (``GET
/mail/wait``): an event stream cannot be read through the in-process client, which only sees
a response once it is complete.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from agentpost.api.deps import AgentDep, BearerDep, CtxDep
from agentpost.api.in_process import in_process_client
from agentpost.api.schemas import ApiModel
from agentpost.client import ClientError
from agentpost.errors import Forbidden, InvalidInput, ToolNotFound
from agentpost.mcp.registry import ToolContext, ToolFailure, ToolSpec
from agentpost.mcp.tools import ALL_TOOLS
from agentpost.services import permissions
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord

router = APIRouter(prefix="/tools", tags=["tools"])

SENDING_TOOLS = frozenset(
    {"send_email", "reply_email", "forward_email", "template_send", "message_agent"}
)


class ToolFormat(enum.StrEnum):
    openai = "openai"
    anthropic = "anthropic"
    both = "both"


class ToolsPublic(ApiModel):
    openai: list[dict[str, Any]] | None = None
    anthropic: list[dict[str, Any]] | None = None


class ToolResultPublic(ApiModel):
    result: str


async def allowed_tools(ctx: AppContext, agent: AgentRecord) -> list[ToolSpec[Any]]:
    """The tools ``agent`` may call, in registry order."""
    can_send = await permissions.may_send(ctx, agent)
    return [
        spec
        for spec in ALL_TOOLS
        if not spec.uses_master_key and (can_send or spec.name not in SENDING_TOOLS)
    ]


def openai_tool(spec: ToolSpec[Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.input_schema(),
        },
    }


def anthropic_tool(spec: ToolSpec[Any]) -> dict[str, Any]:
    return {"name": spec.name, "description": spec.description, "input_schema": spec.input_schema()}


@router.get("", response_model_exclude_none=True)
async def list_tools(
    ctx: CtxDep,
    agent: AgentDep,
    format_: Annotated[ToolFormat, Query(alias="format")] = ToolFormat.both,
) -> ToolsPublic:
    """Tool definitions for an LLM's function calling, filtered by your permissions."""
    specs = await allowed_tools(ctx, agent)
    answer = ToolsPublic()
    if format_ in (ToolFormat.openai, ToolFormat.both):
        answer.openai = [openai_tool(s) for s in specs]
    if format_ in (ToolFormat.anthropic, ToolFormat.both):
        answer.anthropic = [anthropic_tool(s) for s in specs]
    return answer


async def _caller_key(
    credentials: BearerDep,
) -> str:
    return credentials.credentials.strip() if credentials is not None else ""


@router.post("/{name}", response_model=ToolResultPublic)
async def call_tool(
    ctx: CtxDep,
    agent: AgentDep,
    request: Request,
    name: str,
    key: Annotated[str, Depends(_caller_key)],
    arguments: Annotated[dict[str, Any] | None, Body()] = None,
) -> ToolResultPublic | JSONResponse:
    """Run one tool with JSON arguments; the answer is the text the MCP tool returns."""
    spec = await _spec_for(ctx, agent, name)
    async with in_process_client(request.app, key) as client:
        try:
            text = await spec.run(ToolContext(client=client, streams=False), arguments or {})
        except ToolFailure as exc:
            raise InvalidInput(str(exc), code="invalid_arguments") from exc
        except ClientError as exc:
            body = {"error": exc.message, "code": exc.code}
            if exc.field:
                body["field"] = exc.field
            return JSONResponse(body, status_code=exc.status or 502)
    return ToolResultPublic(result=text)


async def _spec_for(ctx: AppContext, agent: AgentRecord, name: str) -> ToolSpec[Any]:
    spec = next((s for s in ALL_TOOLS if s.name == name), None)
    if spec is None:
        raise ToolNotFound(f"no tool named {name!r}; GET /tools lists the tools you may call")
    if spec not in await allowed_tools(ctx, agent):
        raise Forbidden(
            f"the tool {name!r} is not available to you (it needs the master key, sending "
            "rights, or an event stream); GET /tools lists the tools you may call",
            code="tool_not_permitted",
        )
    return spec
