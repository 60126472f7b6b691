"""The tool registry: each tool defined once, as data, independent of any transport.

A ``ToolSpec`` holds a tool's name, description, argument model (whose JSON Schema hosts see)
and an async handler over the REST client that returns concise text. The MCP server serves
these specs over stdio or streamable HTTP; the same specs can be rendered as OpenAI/Anthropic
function-calling definitions, since ``input_schema()`` is a self-contained JSON Schema (no
``$ref``, no titles, no nullable unions).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from agentpost.client import AgentPostClient

ArgsT = TypeVar("ArgsT", bound=BaseModel)


class ToolArgs(BaseModel):
    """Base of every argument model: camelCase on the wire, unknown arguments refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="forbid"
    )


class NoArgs(ToolArgs):
    """For tools that take no arguments."""


class ToolFailure(Exception):
    """A failure the agent can act on (bad arguments, nothing to do); becomes a tool error."""


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a handler may use: the agent's client and, when configured, a master-key client."""

    client: AgentPostClient
    admin: AgentPostClient | None = None
    # False where the client cannot hold an event stream open (function calling runs tools
    # in-process, where a response is only seen whole): waiting tools use the long poll.
    streams: bool = True

    @property
    def admin_or_agent(self) -> AgentPostClient:
        """Master-key tools use the master key when set; otherwise the API judges the agent."""
        return self.admin or self.client


Handler = Callable[[ToolContext, ArgsT], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[ArgsT]):
    name: str
    description: str
    args: type[ArgsT]
    handler: Handler[ArgsT]
    uses_master_key: bool = False
    # Hints for hosts (MCP tool annotations): changes nothing; or removes data for good.
    read_only: bool = False
    destructive: bool = False

    def input_schema(self) -> dict[str, Any]:
        return clean_schema(self.args.model_json_schema(by_alias=True))

    def parse(self, arguments: Mapping[str, Any]) -> ArgsT:
        """Validate raw arguments; a ``ToolFailure`` names each bad field and the rule."""
        try:
            return self.args.model_validate(_decode_json_strings(self.args, arguments))
        except ValidationError as exc:
            raise ToolFailure(f"invalid arguments for {self.name}: {describe(exc)}") from exc

    async def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> str:
        return await self.handler(ctx, self.parse(arguments))


def tool(
    args: type[ArgsT],
    *,
    master_key: bool = False,
    read_only: bool = False,
    destructive: bool = False,
) -> Callable[[Handler[ArgsT]], ToolSpec[ArgsT]]:
    """Turn a handler into a ``ToolSpec`` named after it; its docstring is the description."""

    def register(handler: Handler[ArgsT]) -> ToolSpec[ArgsT]:
        return ToolSpec(
            name=handler.__name__,
            description=" ".join((handler.__doc__ or "").split()),
            args=args,
            handler=handler,
            uses_master_key=master_key,
            read_only=read_only,
            destructive=destructive,
        )

    return register


def describe(exc: ValidationError) -> str:
    """``limit: Input should be less than or equal to 100; uid: Field required``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _decode_json_strings(model: type[BaseModel], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Some hosts send arrays and objects as JSON text (``"[1, 2]"``); decode those for fields
    that are not strings, and leave everything else to validation."""
    structured = {
        field.alias or key
        for key, field in model.model_fields.items()
        if field.annotation is not str and not _is_optional_str(field.annotation)
    }
    decoded = dict(arguments)
    for key, value in arguments.items():
        if key in structured and isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            try:
                decoded[key] = json.loads(value)
            except ValueError:
                continue
    return decoded


def _is_optional_str(annotation: Any) -> bool:
    return bool(annotation == (str | None))


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A host-friendly copy of a pydantic JSON Schema: ``$ref`` inlined, titles dropped, and
    ``anyOf [X, null]`` with ``default: null`` shown as plain optional ``X``."""
    definitions = schema.get("$defs", {})
    cleaned: dict[str, Any] = _clean(schema, definitions)
    cleaned.pop("description", None)  # the model's docstring; the tool has its own
    cleaned.setdefault("properties", {})
    return cleaned


def _clean(node: Any, definitions: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_clean(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    node = _drop_null(node)
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return _clean({**target, **{k: v for k, v in node.items() if k != "$ref"}}, definitions)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties":
            out[key] = {name: _clean(prop, definitions) for name, prop in value.items()}
        else:
            out[key] = _clean(value, definitions)
    return out


def _drop_null(node: dict[str, Any]) -> dict[str, Any]:
    options = node.get("anyOf")
    if not isinstance(options, list):
        return node
    rest = [option for option in options if option != {"type": "null"}]
    if len(rest) != 1 or len(rest) == len(options):
        return node
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "anyOf"} | rest[0]
    if merged.get("default", 0) is None:
        del merged["default"]
    return merged
