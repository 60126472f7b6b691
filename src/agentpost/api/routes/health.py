"""``GET /health``: no key needed; checks that the database answers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from agentpost import __version__
from agentpost.api.deps import CtxDep
from agentpost.api.schemas import HealthPublic

router = APIRouter(tags=["health"])
logger = logging.getLogger("agentpost.api")
DATABASE_TIMEOUT_SECONDS = 5.0


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database does not answer."}},
)
async def read_health(ctx: CtxDep) -> HealthPublic | JSONResponse:
    """Whether the API and its database are up."""
    try:
        await asyncio.wait_for(ctx.db.ping(), DATABASE_TIMEOUT_SECONDS)
        database = "ok"
    except Exception as exc:  # any failure means "not healthy", never a 500
        logger.warning("health check: database unavailable: %s", type(exc).__name__)
        database = "unavailable"
    health = HealthPublic(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        services={"api": "ok", "database": database},
        timestamp=datetime.now(UTC),
    )
    if database != "ok":
        return JSONResponse(health.model_dump(mode="json"), status_code=503)
    return health
