"""Account lifecycle over the API: DELETE archives under a report, reports and the archived
bytes are the owner's alone, inactive agents, cleanup and the persistent flag."""

from __future__ import annotations

import httpx
import pytest

from agentpost.services import accounts
from agentpost.services.context import AppContext

from .support import MASTER_KEY, V1, Agent, assert_error, auth, send

pytestmark = pytest.mark.anyio
ADMIN = auth(MASTER_KEY)


async def test_delete_archives_and_the_report_shows_the_mail(
    ctx: AppContext, client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    await send(client, alice, to="bob@localhost", subject="Plans", text="secret plans")
    deleted = await client.delete(
        f"{V1}/accounts/bob", params={"reason": "left", "deletedBy": "ops"}, headers=ADMIN
    )
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert (body["emailsArchived"], body["topCorrespondents"]) == (1, ["alice@localhost"])
    listing = (await client.get(f"{V1}/accounts/deletions", headers=ADMIN)).json()
    assert [d["id"] for d in listing["deletions"]] == [body["deletionId"]]
    report = (
        await client.get(f"{V1}/accounts/deletions/{body['deletionId']}", headers=ADMIN)
    ).json()
    assert report["deletedBy"] == "ops (admin)" and report["reason"] == "left"
    assert report["folders"]["INBOX"] == 1
    (email,) = report["emails"]
    assert (email["subject"], email["from"], email["folder"]) == (
        "Plans",
        "alice@localhost",
        "INBOX",
    )
    raw = await client.get(
        f"{V1}/accounts/deletions/{body['deletionId']}/messages/{email['id']}/raw", headers=ADMIN
    )
    assert raw.status_code == 200 and b"secret plans" in raw.content
    assert raw.headers["content-type"].startswith("message/rfc822")
    assert_error(
        await client.get(f"{V1}/accounts/deletions", headers=alice.headers),
        403,
        "owner_key_required",
    )
    _owner, key = await accounts.create_owner(
        ctx, await accounts.authenticate(ctx, MASTER_KEY), name="other"
    )
    theirs = await client.get(f"{V1}/accounts/deletions", headers=auth(key))
    assert theirs.json() == {"deletions": []}
    assert_error(
        await client.get(f"{V1}/accounts/deletions/{body['deletionId']}", headers=auth(key)),
        404,
        "deletion_report_not_found",
    )


async def test_inactive_cleanup_and_persistent(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    # Nobody has been idle for an hour yet.
    idle = (await client.get(f"{V1}/accounts/inactive", params={"hours": 1}, headers=ADMIN)).json()
    assert idle == {"agents": [], "count": 0}
    dry = await client.post(f"{V1}/accounts/cleanup", json={"dryRun": True}, headers=ADMIN)
    assert dry.json() == {"dryRun": True, "count": 0, "wouldDelete": []}
    flag = await client.patch(
        f"{V1}/accounts/{bob.id}/persistent", json={"persistent": True}, headers=ADMIN
    )
    assert flag.json() == {"ok": True, "id": bob.id, "name": "bob", "persistent": True}
    assert_error(
        await client.get(f"{V1}/accounts/inactive", params={"hours": 0}, headers=ADMIN),
        400,
        "invalid_input",
        "hours",
    )
