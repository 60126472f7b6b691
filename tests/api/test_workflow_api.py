"""REST for tags, rules, agent messages, tasks and RPC: shapes, isolation, errors, and the
long poll waking on task events for the parties only."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from agentpost.services.context import AppContext

from .support import MASTER_KEY, V1, Agent, assert_error, auth, inbox, send, until

pytestmark = pytest.mark.anyio


async def post(
    client: httpx.AsyncClient, who: Agent | str, path: str, body: Any = None
) -> httpx.Response:
    headers = who.headers if isinstance(who, Agent) else auth(who)
    return await client.post(f"{V1}{path}", json=body, headers=headers)


async def get(client: httpx.AsyncClient, who: Agent, path: str, **params: Any) -> httpx.Response:
    return await client.get(f"{V1}{path}", params=params, headers=who.headers)


async def test_tags_round_trip_and_are_private(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    await send(client, alice, to=bob.address, subject="Tag me")
    created = await post(client, bob, "/tags", {"name": "Follow up", "color": "#00AA00"})
    assert created.status_code == 201
    tag = created.json()
    assert set(tag) == {"id", "name", "color", "createdAt"} and tag["color"] == "#00aa00"
    assert_error(await post(client, bob, "/tags", {"name": "follow UP"}), 409, "tag_exists")
    assert_error(await post(client, bob, "/tags", {"name": ""}), 400, "invalid_input", "name")

    tagged = await post(client, bob, f"/tags/{tag['id']}/messages", {"uid": 1})
    assert tagged.json() == {"ok": True}
    listing = (await get(client, bob, f"/tags/{tag['id']}/messages")).json()
    assert listing["total"] == 1
    [item] = listing["messages"]
    assert (item["uid"], item["folder"], item["subject"]) == (1, "INBOX", "Tag me")
    assert item["from"] == alice.address
    on_message = (await get(client, bob, "/messages/1/tags")).json()["tags"]
    assert [t["name"] for t in on_message] == ["Follow up"]

    # Alice sees none of it: Bob's tag id is unknown to her.
    assert (await get(client, alice, "/tags")).json() == {"tags": []}
    for response in (
        await get(client, alice, f"/tags/{tag['id']}/messages"),
        await post(client, alice, f"/tags/{tag['id']}/messages", {"uid": 1, "folder": "Sent"}),
        await client.delete(f"{V1}/tags/{tag['id']}", headers=alice.headers),
    ):
        assert_error(response, 404, "tag_not_found")
    assert_error(
        await post(client, bob, f"/tags/{tag['id']}/messages", {"uid": 7}),
        404,
        "message_not_found",
    )

    removed = await client.delete(f"{V1}/tags/{tag['id']}/messages/1", headers=bob.headers)
    assert removed.json() == {"ok": True, "removed": True}
    deleted = await client.delete(f"{V1}/tags/{tag['id']}", headers=bob.headers)
    assert deleted.json() == {"ok": True}


async def test_rules_are_validated_listed_applied_and_private(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    bad = await post(
        client,
        bob,
        "/rules",
        {"name": "r", "conditions": {"subject_regex": "(x+)+y"}, "actions": {"delete": True}},
    )
    assert_error(bad, 400, "invalid_input", "conditions.subject_regex")
    assert "exponential" in bad.json()["error"]
    unknown = await post(client, bob, "/rules", {"name": "r", "actions": {"forward": "x"}})
    assert_error(unknown, 400, "invalid_input", "actions")
    assert_error(await post(client, bob, "/rules", {"name": "r"}), 400, "invalid_input")

    created = await post(
        client,
        bob,
        "/rules",
        {
            "name": "newsletters",
            "priority": 3,
            "conditions": {"subject_contains": "newsletter"},
            "actions": {"mark_read": True, "add_tags": ["news"]},
        },
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["conditions"] == {"subject_contains": "newsletter"}
    assert rule["actions"] == {"mark_read": True, "add_tags": ["news"]}
    assert [r["id"] for r in (await get(client, bob, "/rules")).json()["rules"]] == [rule["id"]]
    assert (await get(client, alice, "/rules")).json() == {"rules": []}
    gone = await client.delete(f"{V1}/rules/{rule['id']}", headers=alice.headers)
    assert_error(gone, 404, "rule_not_found")

    await send(client, alice, to=bob.address, subject="Weekly Newsletter")
    [message] = (await inbox(client, bob))["messages"]
    assert message["seen"] is True
    tags = (await get(client, bob, "/tags")).json()["tags"]
    assert [t["name"] for t in tags] == ["news"]
    tagged = (await get(client, bob, f"/tags/{tags[0]['id']}/messages")).json()
    assert [m["subject"] for m in tagged["messages"]] == ["Weekly Newsletter"]

    deleted = await client.delete(f"{V1}/rules/{rule['id']}", headers=bob.headers)
    assert deleted.json() == {"ok": True}


async def test_agent_messages_with_priority_and_the_unread_summary(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    sent = await post(
        client, alice, "/agent-messages", {"agent": "bob", "subject": "Deploy", "text": "now"}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["to"] == bob.address and sent.json()["subject"] == "Deploy"
    urgent = await post(
        client,
        alice,
        "/agent-messages",
        {"agent": "bob", "subject": "Server down", "text": "help", "priority": "urgent"},
    )
    assert urgent.json()["subject"] == "[URGENT] Server down"
    unknown = await post(
        client, alice, "/agent-messages", {"agent": "nobody", "subject": "x", "text": "y"}
    )
    assert_error(unknown, 404, "agent_not_found")
    bad = await post(
        client,
        alice,
        "/agent-messages",
        {"agent": "bob", "subject": "x", "text": "y", "priority": "p"},
    )
    assert_error(bad, 400, "invalid_input", "priority")

    summary = (await get(client, bob, "/agent-messages/unread")).json()
    assert summary["total"] == 2
    assert [(m["subject"], m["source"]) for m in summary["messages"]] == [
        ("[URGENT] Server down", "agent"),
        ("Deploy", "agent"),
    ]
    assert (await inbox(client, bob))["messages"][0]["seen"] is False  # nothing marked read


async def test_tasks_over_rest_with_permissions(
    client: httpx.AsyncClient, alice: Agent, bob: Agent, carol: Agent
) -> None:
    created = await post(
        client, alice, "/tasks", {"assignee": "bob", "taskType": "review", "payload": {"pr": 7}}
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["status"], task["assignee"], task["assigner"]) == ("pending", "bob", "alice")
    assert task["assignerId"] == alice.id and task["payload"] == {"pr": 7}

    incoming = (await get(client, bob, "/tasks")).json()
    assert incoming["count"] == 1 and incoming["tasks"][0]["id"] == task["id"]
    assert (await get(client, bob, "/tasks/pending")).json()["count"] == 1
    outgoing = (await get(client, alice, "/tasks", direction="outgoing")).json()
    assert [t["id"] for t in outgoing["tasks"]] == [task["id"]]
    assert (await get(client, alice, "/tasks/assigned")).json()["count"] == 1

    assert_error(await get(client, carol, f"/tasks/{task['id']}"), 404, "task_not_found")
    assert_error(await post(client, carol, f"/tasks/{task['id']}/claim"), 404, "task_not_found")
    assert_error(await post(client, alice, f"/tasks/{task['id']}/claim"), 403, "not_task_assignee")
    forged = await post(client, alice, f"/tasks/{task['id']}/result", {"result": {"ok": 1}})
    assert_error(forged, 403, "not_task_assignee")

    claimed = await post(client, bob, f"/tasks/{task['id']}/claim")
    assert claimed.json()["status"] == "claimed"
    again = await post(client, bob, f"/tasks/{task['id']}/claim")
    assert_error(again, 409, "task_state_conflict")
    done = await post(client, bob, f"/tasks/{task['id']}/result", {"result": {"lgtm": True}})
    assert done.json()["status"] == "completed" and done.json()["result"] == {"lgtm": True}
    seen_by_alice = (await get(client, alice, f"/tasks/{task['id']}")).json()
    assert seen_by_alice["result"] == {"lgtm": True} and seen_by_alice["completedAt"]

    bad = await post(client, alice, "/tasks", {"assignee": "bob", "expiresInSeconds": 0})
    assert_error(bad, 400, "invalid_input", "expiresInSeconds")
    by_master = await post(client, MASTER_KEY, "/tasks/assign", {"assignee": "bob"})
    assert by_master.status_code == 201 and by_master.json()["assignerId"] is None


async def test_wait_wakes_the_parties_on_task_events_and_no_one_else(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent, carol: Agent
) -> None:
    answers: dict[str, dict[str, Any]] = {}

    async def wait(who: Agent, timeout: int) -> None:
        response = await get(client, who, "/mail/wait", timeout=timeout)
        answers[who.name] = response.json()

    async with anyio.create_task_group() as group:
        group.start_soon(wait, bob, 30)
        group.start_soon(wait, carol, 2)
        await until(lambda: ctx.events.subscriber_count(bob.id) == 1)
        await until(lambda: ctx.events.subscriber_count(carol.id) == 1)
        created = await post(client, alice, "/tasks", {"assignee": "bob"})
    task_id = created.json()["id"]
    assert answers["bob"]["eventType"] == "task"
    assert answers["bob"]["task"]["type"] == "task.assigned"
    assert answers["bob"]["task"]["taskId"] == task_id
    assert answers["carol"] == {"arrived": False, "timedOut": True}


async def test_rpc_returns_the_result_or_a_clear_timeout(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent
) -> None:
    answers: list[httpx.Response] = []

    async def call() -> None:
        body = {"target": "bob", "task": "translate", "payload": {"text": "hola"}, "timeout": 30}
        answers.append(await post(client, alice, "/tasks/rpc", body))

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        with anyio.fail_after(5):
            while not (incoming := (await get(client, bob, "/tasks")).json()["tasks"]):
                await anyio.sleep(0.01)
        [task] = incoming
        assert task["taskType"] == "rpc" and task["payload"]["task"] == "translate"
        await post(client, bob, f"/tasks/{task['id']}/result", {"result": {"text": "hello"}})
    answer = answers[0].json()
    assert answer["status"] == "completed" and answer["result"] == {"text": "hello"}
    assert answer["taskId"] == task["id"]

    bad = await post(client, alice, "/tasks/rpc", {"target": "bob", "task": "x", "timeout": 2})
    assert_error(bad, 400, "invalid_input", "timeout")
    timed_out = await post(
        client, alice, "/tasks/rpc", {"target": "bob", "task": "y", "timeout": 5}
    )
    body = timed_out.json()
    assert body["status"] == "timeout" and "still pending" in body["message"]
    claimed = await post(client, bob, f"/tasks/{body['taskId']}/claim")
    assert claimed.json()["status"] == "claimed"
