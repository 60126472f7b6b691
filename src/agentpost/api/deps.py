"""Dependencies shared by the routes: the service context, the caller and common parameters.

Authentication is a dependency, not middleware, so unknown routes answer 404 rather than 401
and OpenAPI documents which routes need a key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentpost.api.schemas import FOLDER_NAME_MAX
from agentpost.errors import Unauthenticated
from agentpost.services import accounts
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord

bearer = HTTPBearer(
    auto_error=False,
    description="An agent key (ak_…), an owner key (ok_…) or the master key (mk_…).",
)


async def get_ctx(request: Request) -> AppContext:
    # async, though it awaits nothing: FastAPI runs a plain def dependency in a worker
    # thread, a round trip on every request.
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


async def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Unauthenticated("missing API key: send the header Authorization: Bearer <key>")
    ctx: AppContext = request.app.state.ctx
    return await accounts.authenticate(ctx, credentials.credentials)


# Each caller dependency reads the context itself and has the bearer scheme as its only
# sub-dependency (which also puts the scheme in the OpenAPI schema): FastAPI's solving of
# each further level (get_agent → get_principal → get_ctx) costs more than the key lookup (a
# cached hash), on every request. No route takes two of them.
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_principal(request: Request, credentials: BearerDep) -> Principal:
    return await _caller(request, credentials)


async def get_agent(request: Request, credentials: BearerDep) -> AgentRecord:
    return (await _caller(request, credentials)).require_agent()


async def get_admin_or_owner(request: Request, credentials: BearerDep) -> Principal:
    principal = await _caller(request, credentials)
    principal.require_admin_or_owner()
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
AgentDep = Annotated[AgentRecord, Depends(get_agent)]
AdminOrOwnerDep = Annotated[Principal, Depends(get_admin_or_owner)]

UidPath = Annotated[int, Path(ge=1, description="The message UID within its folder.")]
FolderQuery = Annotated[
    str,
    Query(min_length=1, max_length=FOLDER_NAME_MAX, description="Folder name (default INBOX)."),
]
LimitQuery = Annotated[int, Query(ge=1, le=100, description="At most this many messages.")]
OffsetQuery = Annotated[int, Query(ge=0, description="Skip this many, newest first.")]
