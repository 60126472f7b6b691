"""GET /audit and /audit/verify: owner scoping, filters, cursor and offset pages, the chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from agentpost.services import accounts
from agentpost.services.audit import AuditEntry, record_now
from agentpost.services.context import AppContext
from agentpost.storage.tables.audit import audit_log

from .support import MASTER_KEY, V1, auth

pytestmark = pytest.mark.anyio
ADMIN = auth(MASTER_KEY)


async def seed(ctx: AppContext) -> tuple[str, dict[str, str]]:
    """Rows for the default owner and for a second owner; returns that owner's id and key.
    Row 1 is the configured master key's key.created (recorded on the first start), row 2 the
    second owner's (creating an owner records its key)."""
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    other, key = await accounts.create_owner(ctx, admin, name="Other")
    rows = [
        AuditEntry("config.created", owner_id=admin.owner_id, config_id="c1"),
        AuditEntry("send.accepted", owner_id=admin.owner_id, agent_id="a1", recipients=2),
        AuditEntry("send.refused", status="refused", owner_id=admin.owner_id, agent_id="a1",
                   error="hourly limit reached"),
        AuditEntry("send.accepted", owner_id=other.id, agent_id="b1", recipients=1),
        AuditEntry("config.tested", status="failed", owner_id=other.id, config_id="c2"),
    ]  # fmt: skip
    for entry in rows:
        await record_now(ctx, entry)
    return other.id, auth(key)


async def get(
    client: httpx.AsyncClient, headers: dict[str, str], **params: object
) -> dict[str, Any]:
    response = await client.get(f"{V1}/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_owner_sees_own_rows_admin_sees_all(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    other_id, other = await seed(ctx)
    everything = await get(client, ADMIN)
    assert everything["total"] == 7 and [e["seq"] for e in everything["entries"]] == [
        7, 6, 5, 4, 3, 2, 1,
    ]  # fmt: skip
    mine = await get(client, other)
    assert mine["total"] == 3 and {e["ownerId"] for e in mine["entries"]} == {other_id}
    # An owner cannot widen the scope with ownerId.
    sneaky = await get(client, other, ownerId=(await get(client, ADMIN))["entries"][-1]["ownerId"])
    assert {e["ownerId"] for e in sneaky["entries"]} <= {other_id}
    assert (await get(client, ADMIN, ownerId=other_id))["total"] == 3


async def test_filters(ctx: AppContext, client: httpx.AsyncClient) -> None:
    await seed(ctx)
    assert (await get(client, ADMIN, operation="send."))["total"] == 3
    assert (await get(client, ADMIN, operation="send"))["total"] == 0  # exact unless it ends in "."
    assert (await get(client, ADMIN, status="refused"))["entries"][0][
        "error"
    ] == "hourly limit reached"
    assert (await get(client, ADMIN, agentId="a1"))["total"] == 2
    assert (await get(client, ADMIN, configId="c2"))["entries"][0]["status"] == "failed"
    now = datetime.now(UTC)
    assert (await get(client, ADMIN, since=(now - timedelta(minutes=5)).isoformat()))["total"] == 7
    assert (await get(client, ADMIN, until=(now - timedelta(minutes=5)).isoformat()))["total"] == 0
    bad = await client.get(f"{V1}/audit", params={"since": "yesterday-ish"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["field"] == "since"
    backwards = await client.get(
        f"{V1}/audit", params={"since": "2026-01-02", "until": "2026-01-01"}, headers=ADMIN
    )
    assert backwards.status_code == 400


async def test_cursor_and_offset_pages(ctx: AppContext, client: httpx.AsyncClient) -> None:
    await seed(ctx)
    first = await get(client, ADMIN, limit=2)
    assert [e["seq"] for e in first["entries"]] == [7, 6] and first["nextCursor"] == 6
    second = await get(client, ADMIN, limit=2, cursor=first["nextCursor"])
    third = await get(client, ADMIN, limit=2, cursor=second["nextCursor"])
    fourth = await get(client, ADMIN, limit=2, cursor=third["nextCursor"])
    pages = second["entries"] + third["entries"] + fourth["entries"]
    assert [e["seq"] for e in pages] == [5, 4, 3, 2, 1]
    assert fourth["nextCursor"] is None
    assert [e["seq"] for e in (await get(client, ADMIN, limit=2, offset=5))["entries"]] == [2, 1]
    both = await client.get(f"{V1}/audit", params={"cursor": 3, "offset": 1}, headers=ADMIN)
    assert both.status_code == 400
    too_many = await client.get(f"{V1}/audit", params={"limit": 501}, headers=ADMIN)
    assert too_many.status_code == 400 and too_many.json()["field"] == "limit"


async def test_verify_reports_the_first_broken_row(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await seed(ctx)
    intact = (await client.get(f"{V1}/audit/verify", headers=ADMIN)).json()
    assert intact["ok"] is True and intact["checked"] == 7 and intact["headSeq"] == 7
    async with ctx.db.write() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(recipients=9))
    broken = (await client.get(f"{V1}/audit/verify", headers=ADMIN)).json()
    assert broken["ok"] is False and broken["brokenSeq"] == 3 and broken["checked"] == 2
    assert "edited" in broken["reason"]
