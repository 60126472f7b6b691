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


async def get_principal(
    ctx: CtxDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("missing API key: send the header Authorization: Bearer <key>")
    return await accounts.authenticate(ctx, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_agent(principal: PrincipalDep) -> AgentRecord:
    return principal.require_agent()


async def get_admin_or_owner(principal: PrincipalDep) -> Principal:
    principal.require_admin_or_owner()
    return principal


AgentDep = Annotated[AgentRecord, Depends(get_agent)]
AdminOrOwnerDep = Annotated[Principal, Depends(get_admin_or_owner)]

UidPath = Annotated[int, Path(ge=1, description="The message UID within its folder.")]
FolderQuery = Annotated[
    str,
    Query(min_length=1, max_length=FOLDER_NAME_MAX, description="Folder name (default INBOX)."),
]
LimitQuery = Annotated[int, Query(ge=1, le=100, description="At most this many messages.")]
OffsetQuery = Annotated[int, Query(ge=0, description="Skip this many, newest first.")]
