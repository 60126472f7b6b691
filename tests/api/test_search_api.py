"""Search, digest, folders and batch operations over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .support import V1, Agent, assert_error, inbox, read, send

pytestmark = pytest.mark.anyio


async def search(client: httpx.AsyncClient, agent: Agent, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{V1}/mail/search", json=body, headers=agent.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
async def mailbox_of_bob(
    client: httpx.AsyncClient, alice: Agent, bob: Agent, carol: Agent
) -> Agent:
    """Bob's INBOX: uid 1 invoice from alice, uid 2 meeting from carol, uid 3 invoice reminder
    from carol (seen)."""
    await send(client, alice, to=bob.address, subject="Invoice 42", text="Please pay by Friday")
    await send(client, carol, to=bob.address, subject="Meeting", text="Tuesday at ten")
    await send(
        client, carol, to=[bob.address, alice.address], subject="Reminder", text="The invoice"
    )
    await client.post(f"{V1}/mail/messages/3/seen", headers=bob.headers)
    return bob


@pytest.mark.parametrize(
    ("criteria", "uids"),
    [
        ({}, [3, 2, 1]),
        ({"from": "carol"}, [3, 2]),
        ({"from": "alice@localhost"}, [1]),
        ({"to": "alice"}, [3]),
        ({"subject": "meeting"}, [2]),
        ({"text": "invoice"}, [3, 1]),
        ({"text": "invoic"}, [3, 1]),
        ({"text": "friday", "from": "alice"}, [1]),
        ({"seen": True}, [3]),
        ({"seen": False}, [2, 1]),
        ({"text": "nothing-like-this"}, []),
    ],
)
async def test_search_filters_by_field(
    client: httpx.AsyncClient, mailbox_of_bob: Agent, criteria: dict[str, Any], uids: list[int]
) -> None:
    result = await search(client, mailbox_of_bob, **criteria)
    assert result["uids"] == uids
    assert [m["uid"] for m in result["messages"]] == uids
    assert result["total"] == len(uids)


async def test_search_by_date_converts_to_utc(
    client: httpx.AsyncClient, mailbox_of_bob: Agent
) -> None:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    assert (await search(client, mailbox_of_bob, since=tomorrow))["uids"] == []
    assert (await search(client, mailbox_of_bob, before=tomorrow))["total"] == 3
    an_hour_ago = (now - timedelta(hours=1)).astimezone().isoformat()  # local offset
    assert (await search(client, mailbox_of_bob, since=an_hour_ago))["total"] == 3
    in_an_hour_naive = (now + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert (await search(client, mailbox_of_bob, since=in_an_hour_naive))["total"] == 0
    assert (await search(client, mailbox_of_bob, since="2000-01-01T00:00:00Z"))["total"] == 3


async def test_search_pages_and_scopes_to_a_folder(
    client: httpx.AsyncClient, mailbox_of_bob: Agent
) -> None:
    page = await search(client, mailbox_of_bob, limit=2, offset=1)
    assert page["uids"] == [2, 1] and page["total"] == 3
    assert (await search(client, mailbox_of_bob, folder="Sent"))["total"] == 0
    missing = await client.post(
        f"{V1}/mail/search", json={"folder": "Nope"}, headers=mailbox_of_bob.headers
    )
    assert_error(missing, 404, "folder_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"before": "2026-13-01"}, "before"),
        ({"since": 1700000000}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"seen": "maybe"}, "seen"),
    ],
)
async def test_search_refuses_bad_criteria(
    client: httpx.AsyncClient, alice: Agent, body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{V1}/mail/search", json=body, headers=alice.headers)
    error = assert_error(response, 400, "invalid_input", field)
    assert field in error["error"]


async def test_digest_gives_bounded_previews(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    long_text = "word " * 200
    await send(client, alice, to=bob.address, subject="Long", text=long_text)
    await send(client, alice, to=bob.address, subject="Short", text="tiny")
    response = await client.get(
        f"{V1}/mail/digest", params={"previewLength": 50, "limit": 1}, headers=bob.headers
    )
    digest = response.json()
    assert (digest["count"], digest["total"], digest["folder"]) == (1, 2, "INBOX")
    assert digest["messages"][0]["subject"] == "Short"
    assert digest["messages"][0]["preview"] == "tiny"
    older = await client.get(
        f"{V1}/mail/digest", params={"previewLength": 50, "offset": 1}, headers=bob.headers
    )
    item = older.json()["messages"][0]
    assert item["preview"] == long_text.strip()[:50]
    assert set(item) == {"uid", "subject", "from", "to", "date", "flags", "seen", "size", "preview"}
    default = (await client.get(f"{V1}/mail/digest", headers=bob.headers)).json()
    assert len(default["messages"][1]["preview"]) == 200


async def test_folders_create_list_and_refuse_duplicates(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    created = await client.post(
        f"{V1}/mail/folders", json={"name": "Projects/2026"}, headers=bob.headers
    )
    assert created.status_code == 201
    assert created.json() == {"ok": True, "folder": "Projects/2026"}
    again = await client.post(
        f"{V1}/mail/folders", json={"name": "projects/2026"}, headers=bob.headers
    )
    assert_error(again, 409, "folder_exists")
    bad = await client.post(f"{V1}/mail/folders", json={"name": "a*b"}, headers=bob.headers)
    assert_error(bad, 400, "invalid_input", "name")
    await send(client, alice, to=bob.address)
    await client.post(
        f"{V1}/mail/messages/1/move", json={"to": "Projects/2026"}, headers=bob.headers
    )
    folders = (await client.get(f"{V1}/mail/folders", headers=bob.headers)).json()["folders"]
    by_name = {f["name"]: f for f in folders}
    assert by_name["Projects/2026"] == {
        "name": "Projects/2026",
        "path": "Projects/2026",
        "specialUse": None,
        "total": 1,
        "unseen": 1,
    }
    assert by_name["Sent"]["specialUse"] == "\\Sent"
    assert {"INBOX", "Sent", "Drafts", "Trash", "Spam", "Archive"} <= set(by_name)
    for path in ("Projects/2026", "Projects%2F2026"):
        page = (await client.get(f"{V1}/mail/folders/{path}", headers=bob.headers)).json()
        assert (page["folder"], page["total"]) == ("Projects/2026", 1)
    missing = await client.get(f"{V1}/mail/folders/Nope", headers=bob.headers)
    assert_error(missing, 404, "folder_not_found")


async def test_batch_operations_count_what_they_did(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    for n in range(4):
        await send(client, alice, to=bob.address, subject=f"m{n}")
    h = bob.headers
    seen = await client.post(f"{V1}/mail/batch/seen", json={"uids": [1, 2, 99]}, headers=h)
    assert seen.json() == {"ok": True, "marked": 2}
    assert [m["seen"] for m in (await inbox(client, bob))["messages"]] == [False, False, True, True]
    unseen = await client.post(f"{V1}/mail/batch/unseen", json={"uids": [2]}, headers=h)
    assert unseen.json() == {"ok": True, "marked": 1}
    read_many = await client.post(f"{V1}/mail/batch/read", json={"uids": [1, 3, 50]}, headers=h)
    assert read_many.json()["count"] == 2
    assert [m["subject"] for m in read_many.json()["messages"]] == ["m0", "m2"]
    assert read_many.json()["messages"][0]["text"].strip() == "Hi there"
    moved = await client.post(
        f"{V1}/mail/batch/move", json={"uids": [1, 2], "to": "Archive"}, headers=h
    )
    assert moved.json() == {"ok": True, "moved": 2, "uids": {"1": 1, "2": 2}}
    deleted = await client.post(f"{V1}/mail/batch/delete", json={"uids": [3, 4, 7]}, headers=h)
    assert deleted.json() == {"ok": True, "deleted": 2, "uids": [3, 4]}
    assert (await inbox(client, bob))["total"] == 0
    archived = await read(client, bob, 1, folder="Archive")
    assert archived["subject"] == "m0"


@pytest.mark.parametrize(
    ("path", "body", "sentence"),
    [
        ("/mail/batch/delete", {"uids": []}, "uids must have at least 1"),
        ("/mail/batch/seen", {"uids": list(range(1, 1002))}, "uids must have at most 1000"),
        ("/mail/batch/unseen", {"uids": [0]}, "positive"),
        ("/mail/batch/read", {"uids": ["1"]}, "uids.0 must be an integer"),
        ("/mail/batch/move", {"uids": [1]}, "to is required"),
        ("/mail/batch/read", {"uids": [True]}, "uids.0 must be an integer"),
    ],
)
async def test_batch_refuses_bad_uid_lists(
    client: httpx.AsyncClient, alice: Agent, path: str, body: dict[str, Any], sentence: str
) -> None:
    response = await client.post(f"{V1}{path}", json=body, headers=alice.headers)
    error = assert_error(response, 400, "invalid_input")
    assert sentence in error["error"]
