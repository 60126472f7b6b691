"""The ``Idempotency-Key`` header of the send routes (services/idempotency.py has the rules).

``run_once`` wraps a send: without a key it just runs it; with one it claims the key, replays
a recorded answer (same status and body, plus ``Idempotent-Replayed: true``), or runs the
send with the key bound to its transaction and records the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agentpost.api.schemas import SendResultPublic
from agentpost.services import idempotency
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        description="Any unique string (e.g. a UUID): a retry with the same key and body "
        "returns the first answer instead of sending again. Kept 24 hours.",
    ),
]


async def run_once(
    ctx: AppContext,
    agent: AgentRecord,
    key: str | None,
    operation: str,
    body: BaseModel,
    send: Callable[[], Awaitable[SendResultPublic]],
) -> SendResultPublic | JSONResponse:
    if key is None:
        return _answer(await send())
    key = idempotency.check_key(key)
    print_ = idempotency.fingerprint(operation, body.model_dump(mode="json", by_alias=True))
    replay = await idempotency.claim(ctx, agent.id, key, print_)
    if replay is not None:
        return JSONResponse(
            replay.body, status_code=replay.status_code, headers={"Idempotent-Replayed": "true"}
        )
    try:
        with idempotency.bound(agent.id, key):
            result = await send()
    except BaseException:
        await idempotency.release(ctx, agent.id, key)
        raise
    answer = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    await idempotency.complete(ctx, agent.id, key, _status_of(result), answer)
    return _answer(result)


def _status_of(result: SendResultPublic) -> int:
    # 202 Accepted: a message the outbound guard held is kept, not sent (services/guard.py).
    return 202 if result.status == "held" else 200


def _answer(result: SendResultPublic) -> SendResultPublic | JSONResponse:
    if _status_of(result) == 200:
        return result
    body = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return JSONResponse(body, status_code=_status_of(result))
