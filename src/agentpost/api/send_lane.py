"""POST /mail/send on a short path: the API's busiest route, without FastAPI's per-request
machinery.

FastAPI works out a route's dependencies, header parameters and body generically on every
request, and on a send that costs about a sixth of what the whole send costs the API process
(bench/README.md, ``send_cost.py``). ``SendLane`` is matched before the FastAPI route of the
same path and does the same work directly: the bearer key (``accounts.authenticate``), the
``Idempotency-Key`` header, the JSON body validated by the same model (``SendCreate``), the
same call (``routes.mail.send_answer``), and the answer serialized as FastAPI serializes it.

It takes only the plain case. A request without a well-formed ``Bearer`` header, with a body
that is not JSON the model accepts, or with another content type goes on to the FastAPI
route with the bytes already read, so every refusal of bad input still comes from one place
and reads the same. Errors raised by the key lookup or the send reach the application's
exception handlers (api/errors.py), as the FastAPI route's do. The OpenAPI document keeps
describing the route from its FastAPI declaration.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentpost.api.routes.mail import send_answer
from agentpost.api.schemas import SendCreate, SendResultPublic
from agentpost.services import accounts
from agentpost.services.context import AppContext
from agentpost.services.idempotency import HEADER as IDEMPOTENCY_HEADER

# Set in the scope of a request handed on to the FastAPI route, so the lane lets it pass.
HANDED_ON = "agentpost.send_lane.handed_on"
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower().encode("latin-1")
_JSON_TYPES = frozenset(["", "application/json"])
_RESULT = SendResultPublic.__pydantic_serializer__


class SendLane:
    """The ASGI app of the lane's route (``lane_route``)."""

    def __init__(self, ctx: AppContext, router: ASGIApp) -> None:
        self.ctx = ctx
        self.router = router  # the application's, which the lane hands requests back to

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        token, idempotency_key, plain = _headers(scope)
        if token is None or not plain or not body:
            await _hand_on(self.router, (scope, receive, send), body)
            return
        agent = (await accounts.authenticate(self.ctx, token)).require_agent()
        try:
            request = SendCreate.model_validate_json(body)
        except ValidationError:
            await _hand_on(self.router, (scope, receive, send), body)
            return
        answer = await send_answer(self.ctx, agent, request, idempotency_key)
        if not isinstance(answer, SendResultPublic):  # an answer already made (202, a replay)
            await answer(scope, receive, send)
            return
        content = _RESULT.to_json(answer, by_alias=True, exclude_none=True)
        await Response(content, media_type="application/json")(scope, receive, send)


class _LaneRoute(Route):
    """Matches POST on its path only, and only for requests the lane has not handed on."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("method") != "POST" or scope.get(HANDED_ON):
            return Match.NONE, {}
        return super().matches(scope)


def lane_route(path: str, ctx: AppContext, router: ASGIApp) -> Route:
    """The lane for ``path`` (a prefix's /mail/send), handing what it does not take back to
    ``router``: put it before the FastAPI route of that path."""
    return _LaneRoute(path, endpoint=SendLane(ctx, router), include_in_schema=False)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _headers(scope: Scope) -> tuple[str | None, str | None, bool]:
    """(the bearer token, the Idempotency-Key, whether the body is declared JSON), each
    header's first occurrence as Starlette reads them. The token is None unless the header
    is ``Bearer <token>``, as FastAPI's HTTPBearer takes it."""
    authorization = idempotency_key = content_type = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == _IDEMPOTENCY and idempotency_key is None:
            idempotency_key = value.decode("latin-1")
        elif name == b"content-type" and content_type is None:
            content_type = value.decode("latin-1")
    token = None
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            token = credentials.strip()
    plain = (content_type or "").partition(";")[0].strip().lower() in _JSON_TYPES
    return token, idempotency_key, plain


async def _hand_on(router: ASGIApp, call: tuple[Scope, Receive, Send], body: bytes) -> None:
    """Route the request again, past the lane, with the body it read."""
    scope, receive, send = call
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    await router({**scope, HANDED_ON: True}, replay, send)
