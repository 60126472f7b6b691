"""SMTP configurations over the REST API: CRUD, presets, validation, isolation between owners,
403 for agent keys, the connection test against a real peer, and the audit rows it leaves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentpost.services import accounts
from agentpost.services.context import AppContext
from agentpost.testing.smtp_auth import auth_peer

from .support import MASTER_KEY, V1, Agent, auth

pytestmark = pytest.mark.anyio
ADMIN = auth(MASTER_KEY)
PASSWORD = "Sm7p-api-Pa55"


def gmail(**extra: Any) -> dict[str, Any]:
    body = {
        "connectionName": "Work Gmail",
        "preset": "gmail",
        "username": "owner@example.com",
        "password": PASSWORD,
    }
    body.update(extra)
    return body


async def create(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] = ADMIN
) -> dict[str, Any]:
    response = await client.post(f"{V1}/smtp-configs", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def owner_headers(ctx: AppContext, name: str) -> dict[str, str]:
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    _owner, key = await accounts.create_owner(ctx, admin, name=name)
    return auth(key)


async def test_create_with_preset_never_returns_the_password(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{V1}/smtp-configs", json=gmail(), headers=ADMIN)
    assert response.status_code == 201, response.text
    assert PASSWORD not in response.text
    config = response.json()
    assert (config["host"], config["port"], config["security"]) == (
        "smtp.gmail.com",
        587,
        "starttls",
    )
    assert config["hasPassword"] is True and "password" not in config
    assert config["fromEmail"] == "owner@example.com"  # from the username
    assert config["isActive"] is True and config["verifyTls"] is True
    listed = await client.get(f"{V1}/smtp-configs", headers=ADMIN)
    assert [c["id"] for c in listed.json()["configs"]] == [config["id"]]
    shown = await client.get(f"{V1}/smtp-configs/{config['id']}", headers=ADMIN)
    assert shown.json() == config


async def test_outlook_and_explicit_values_win(client: httpx.AsyncClient) -> None:
    config = await create(client, gmail(preset="office365", connectionName="o", port=25))
    assert (config["host"], config["port"]) == ("smtp.office365.com", 25)
    custom = await create(
        client,
        {
            "connectionName": "c",
            "preset": "custom",
            "host": "mail.example.com",
            "port": 465,
            "fromEmail": "a@example.com",
        },
    )
    assert custom["security"] == "tls" and custom["hasPassword"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preset": "yahoo"}, "preset"),
        ({"host": "bad host"}, "host"),
        ({"port": 70000}, "port"),
        ({"security": "ssl"}, "security"),
        ({"fromEmail": "not-an-address"}, "fromEmail"),
        ({"connectionTimeout": 0}, "connectionTimeout"),
        ({"maxEmailsPerDay": -1}, "maxEmailsPerDay"),
        ({"fromName": "x\r\nBcc: evil@example.com"}, "fromName"),
        ({"password": None}, "password"),
        ({"connectionName": ""}, "connectionName"),
    ],
)
async def test_validation_names_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{V1}/smtp-configs", json=gmail(**body), headers=ADMIN)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert PASSWORD not in response.text
    assert (await client.get(f"{V1}/smtp-configs", headers=ADMIN)).json()["configs"] == []


async def test_security_none_only_to_loopback_or_when_allowed(client: httpx.AsyncClient) -> None:
    remote = gmail(preset="custom", host="mail.example.com", port=25, security="none")
    refused = await client.post(f"{V1}/smtp-configs", json=remote, headers=ADMIN)
    assert refused.status_code == 400 and refused.json()["field"] == "security"
    assert "allowInsecure" in refused.json()["error"]
    loopback = await create(client, {**remote, "host": "127.0.0.1", "connectionName": "lo"})
    assert loopback["security"] == "none"
    allowed = await create(client, {**remote, "allowInsecure": True, "connectionName": "lan"})
    assert allowed["allowInsecure"] is True


async def test_duplicate_name_is_409(client: httpx.AsyncClient) -> None:
    await create(client, gmail())
    response = await client.post(
        f"{V1}/smtp-configs", json=gmail(connectionName="work gmail"), headers=ADMIN
    )
    assert response.status_code == 409 and response.json()["code"] == "smtp_config_exists"


async def test_agent_key_is_403(client: httpx.AsyncClient, alice: Agent) -> None:
    config = await create(client, gmail())
    calls = [
        client.get(f"{V1}/smtp-configs", headers=alice.headers),
        client.post(f"{V1}/smtp-configs", json=gmail(), headers=alice.headers),
        client.get(f"{V1}/smtp-configs/{config['id']}", headers=alice.headers),
        client.patch(f"{V1}/smtp-configs/{config['id']}", json={}, headers=alice.headers),
        client.delete(f"{V1}/smtp-configs/{config['id']}", headers=alice.headers),
        client.post(f"{V1}/smtp-configs/{config['id']}/test", headers=alice.headers),
        client.get(f"{V1}/audit", headers=alice.headers),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "owner_key_required"


async def test_another_owners_config_is_invisible(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ann, ben = await owner_headers(ctx, "Ann"), await owner_headers(ctx, "Ben")
    mine = await create(client, gmail(), headers=ann)
    await create(client, gmail(), headers=ben)  # same name, other owner: fine
    listed = (await client.get(f"{V1}/smtp-configs", headers=ben)).json()["configs"]
    assert mine["id"] not in [c["id"] for c in listed]
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{V1}/smtp-configs/{mine['id']}",
            headers=ben,
            json={} if method == "PATCH" else None,
        )
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "smtp_config_not_found"
    tested = await client.post(f"{V1}/smtp-configs/{mine['id']}/test", headers=ben)
    assert tested.status_code == 404
    everything = (await client.get(f"{V1}/smtp-configs", headers=ADMIN)).json()["configs"]
    assert len(everything) == 2  # the admin sees every owner's
    ben_audit = (await client.get(f"{V1}/audit", headers=ben)).json()["entries"]
    assert all(e["configId"] != mine["id"] for e in ben_audit)


async def test_update_and_password_rules(client: httpx.AsyncClient) -> None:
    config = await create(client, gmail())
    url = f"{V1}/smtp-configs/{config['id']}"
    changed = await client.patch(
        url, json={"fromName": "Ops", "maxEmailsPerDay": 100}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["fromName"] == "Ops" and changed.json()["maxEmailsPerDay"] == 100
    moved = await client.patch(url, json={"host": "evil.example.net"}, headers=ADMIN)
    assert moved.status_code == 400 and moved.json()["field"] == "password"
    with_password = await client.patch(
        url, json={"host": "smtp.example.net", "password": "new-one"}, headers=ADMIN
    )
    assert with_password.status_code == 200, with_password.text
    cleared = await client.patch(url, json={"maxEmailsPerDay": None}, headers=ADMIN)
    assert cleared.json()["maxEmailsPerDay"] is None
    deleted = await client.delete(url, headers=ADMIN)
    assert deleted.json() == {"id": config["id"], "deleted": True}
    assert (await client.get(url, headers=ADMIN)).status_code == 404


async def test_connection_test_and_audit_rows(client: httpx.AsyncClient) -> None:
    async with auth_peer("owner@example.com", PASSWORD) as peer:
        body = gmail(preset="custom", host="127.0.0.1", port=peer.port, security="none")
        config = await create(client, body)
        url = f"{V1}/smtp-configs/{config['id']}/test"
        good = await client.post(url, headers=ADMIN)
        await client.patch(
            f"{V1}/smtp-configs/{config['id']}", json={"password": "wrong"}, headers=ADMIN
        )
        bad = await client.post(url, headers=ADMIN)
    assert good.status_code == 200 and good.json()["ok"] is True, good.text
    assert good.json()["config"]["lastTestOk"] is True
    assert bad.status_code == 200 and bad.json()["ok"] is False
    assert bad.json()["code"] == 535 and bad.json()["stage"] == "auth"
    assert bad.json()["hint"] and bad.json()["config"]["lastTestOk"] is False
    assert peer.received == []
    audit = (
        await client.get(f"{V1}/audit", params={"configId": config["id"]}, headers=ADMIN)
    ).json()
    operations = [(e["operation"], e["status"]) for e in audit["entries"]]
    assert operations == [
        ("config.tested", "failed"),
        ("config.updated", "ok"),
        ("config.tested", "ok"),
        ("config.created", "ok"),
    ]
    assert audit["entries"][1]["detail"] == {"changed": ["password"]}
    assert audit["entries"][0]["error"].startswith("auth failed")
