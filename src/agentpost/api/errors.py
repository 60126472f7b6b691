"""The one place where failures become HTTP answers: ``{"error", "code"[, "field"]}``.

- ``AgentPostError`` keeps its own status, code and field.
- Request validation becomes 400 ``invalid_input`` with a sentence naming the field; a body
  that is not JSON at all becomes 400 ``invalid_json``.
- Routing failures (unknown path, wrong method, body too large) keep their status with a
  JSON body, so clients never have to parse HTML or ``{"detail": ...}``.
- Anything unexpected is logged with its traceback and answered 500 ``internal_error``
  without internals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentpost.errors import AgentPostError

logger = logging.getLogger("agentpost.api")

# pydantic error types → what the value should have been, in words.
_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "float_type": "a number",
    "float_parsing": "a number",
}
_LOCATIONS = ("body", "query", "path", "header", "cookie")
_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "none", "bytes"}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body = {"error": message, "code": code}
    if field is not None:
        body["field"] = field
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None  # RFC 6750 §3
    return JSONResponse(body, status_code=status, headers=headers)


def _field_path(loc: Sequence[Any]) -> str | None:
    """``("body", "attachments", 0, "content")`` → ``attachments.0.content``.

    Union members show up in ``loc`` as type tags (``str``, ``list[str]``); they are not
    fields, so they are dropped.
    """
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    kept = [
        str(p)
        for p in parts
        if isinstance(p, int) or (not any(c in p for c in "[-") and p not in _TYPE_TAGS)
    ]
    return ".".join(kept) or None


def describe_validation(errors: Sequence[Any]) -> tuple[str, str, str | None]:
    """(code, sentence, field) for the first problem in a pydantic error list."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "malformed JSON")
        return "invalid_json", f"the request body is not valid JSON ({reason})", None
    field = _field_path(first.get("loc", ()))
    subject = field or "the request body"
    same_field = [e for e in errors if _field_path(e.get("loc", ())) == field]
    expected = list(
        dict.fromkeys(_EXPECTED[e["type"]] for e in same_field if e["type"] in _EXPECTED)
    )
    if expected:
        return "invalid_input", f"{subject} must be {' or '.join(expected)}", field
    return "invalid_input", _sentence(subject, first), field


def _sentence(subject: str, error: Any) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{subject} is required"
    if kind == "less_than_equal":
        return f"{subject} must be at most {ctx.get('le')}"
    if kind == "greater_than_equal":
        return f"{subject} must be at least {ctx.get('ge')}"
    if kind == "too_short":
        return f"{subject} must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"{subject} must have at most {ctx.get('max_length')} items"
    if kind == "string_too_short":
        return f"{subject} must not be empty"
    if kind == "string_too_long":
        return f"{subject} must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{subject} has an invalid format"
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "")))
    return f"{subject}: {str(error.get('msg', 'invalid value')).lower()}"


async def _agentpost_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgentPostError)
    response = error_response(exc.status, exc.code, exc.message, exc.field)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(max(retry_after, 1))  # RFC 9110 §10.2.3
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    code, message, field = describe_validation(exc.errors())
    return error_response(400, code, message, field)


_HTTP_CODES = {
    404: ("not_found", "no such route: {method} {path}; see /openapi.json for the API"),
    405: ("method_not_allowed", "{method} is not allowed on {path}"),
    413: ("payload_too_large", "{detail}"),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, template = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
    message = template.format(method=request.method, path=request.url.path, detail=exc.detail)
    response = error_response(exc.status_code, code, message)
    if exc.status_code == 405 and exc.headers:
        response.headers.update(exc.headers)  # Allow (RFC 9110 §15.5.6)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AgentPostError, _agentpost_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
