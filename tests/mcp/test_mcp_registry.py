"""The tool registry: names, parameters, types, required lists and ranges as hosts see them,
checked against the AgenticMail reference (a filtered copy of upstream-tools.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentpost.mcp.registry import ToolFailure, clean_schema
from agentpost.mcp.tools import ALL_TOOLS, tool_by_name

REFERENCE = json.loads((Path(__file__).parent / "upstream_tools.json").read_text())
EXPECTED_NAMES = {
    *("send_email", "list_inbox", "read_email", "reply_email", "forward_email"),
    *("search_emails", "delete_email", "move_email", "mark_read", "mark_unread"),
    *("inbox_digest", "list_folders", "list_folder", "create_folder", "batch_delete"),
    *("batch_mark_read", "batch_mark_unread", "batch_move", "batch_read", "check_health"),
    *("whoami", "update_metadata", "list_agents", "create_account", "delete_agent"),
    "wait_for_email",
    *("manage_contacts", "manage_drafts", "manage_signatures", "manage_templates"),
    *("template_send", "manage_scheduled"),
    *("import_relay_email", "setup_email_relay", "setup_email_domain", "setup_guide"),
    *("setup_gmail_alias", "setup_payment", "purchase_domain", "check_gateway_status"),
    "send_test_email",
    *("manage_tags", "manage_rules", "message_agent", "check_messages", "assign_task"),
    *("check_tasks", "claim_task", "submit_result", "call_agent"),
    *("deletion_reports", "cleanup_agents"),
    "manage_spam",
}
# Tools of ours beyond the reference.
# manage_pending_emails is in the reference too, but with action list|get|view|approve|reject
# (upstream_tools.json has only list|get): approve/reject must reach the API's refusal.
BEYOND_REFERENCE = {"get_send_budget", "manage_pending_emails"}
# The reference's "number" is advertised as the stricter "integer" where only whole numbers
# make sense (UIDs, counts, seconds).
JSON_TYPES = {"number": {"number", "integer"}}


def schema(name: str) -> dict[str, Any]:
    spec = tool_by_name(name)
    assert spec is not None, name
    return spec.input_schema()


def accepted(reference_type: str) -> set[str]:
    return JSON_TYPES.get(reference_type, {reference_type})


def test_the_registry_holds_exactly_the_expected_tools_once_each() -> None:
    names = [spec.name for spec in ALL_TOOLS]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_NAMES | BEYOND_REFERENCE
    assert {entry["name"] for entry in REFERENCE} == EXPECTED_NAMES


@pytest.mark.parametrize("entry", REFERENCE, ids=lambda entry: entry["name"])
def test_parameters_match_the_reference(entry: dict[str, Any]) -> None:
    advertised = schema(entry["name"])
    assert advertised["type"] == "object"
    properties = advertised["properties"]
    for param, reference_type in entry["params"].items():
        assert param in properties, f"{entry['name']} lacks {param}"
        assert properties[param]["type"] in accepted(reference_type), param
    assert sorted(advertised.get("required", [])) == sorted(entry["required"])


@pytest.mark.parametrize("entry", REFERENCE, ids=lambda entry: entry["name"])
def test_array_items_and_enums_match_the_reference(entry: dict[str, Any]) -> None:
    properties = schema(entry["name"])["properties"]
    for param, item in entry.get("items", {}).items():
        items = properties[param]["items"]
        if isinstance(item, str):
            assert items["type"] in accepted(item)
        else:
            assert set(item["params"]) <= set(items["properties"])
            assert sorted(items["required"]) == sorted(item["required"])
    for param, values in entry.get("enums", {}).items():
        assert properties[param]["enum"] == values


@pytest.mark.parametrize("entry", REFERENCE, ids=lambda entry: entry["name"])
def test_master_key_tools_are_flagged_like_the_reference(entry: dict[str, Any]) -> None:
    spec = tool_by_name(entry["name"])
    assert spec is not None
    assert spec.uses_master_key == entry["usesMasterKey"]


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=lambda spec: spec.name)
def test_schemas_are_self_contained_for_any_host(spec: Any) -> None:
    text = json.dumps(spec.input_schema())
    assert "$ref" not in text and "$defs" not in text
    assert '"title"' not in text
    assert '"null"' not in text
    assert spec.input_schema()["additionalProperties"] is False
    assert spec.description and spec.description[0].isupper()


@pytest.mark.parametrize(
    ("tool", "param", "minimum", "maximum"),
    [
        ("list_inbox", "limit", 1, 100),
        ("list_folder", "limit", 1, 100),
        ("search_emails", "limit", 1, 100),
        ("inbox_digest", "limit", 1, 50),
        ("inbox_digest", "previewLength", 50, 500),
        ("wait_for_email", "timeout", 1, 300),
        ("call_agent", "timeout", 5, 300),
    ],
)
def test_ranges_are_in_the_schema(tool: str, param: str, minimum: int, maximum: int) -> None:
    prop = schema(tool)["properties"][param]
    assert (prop["minimum"], prop["maximum"]) == (minimum, maximum)


@pytest.mark.parametrize(
    "tool", ["batch_delete", "batch_mark_read", "batch_mark_unread", "batch_move", "batch_read"]
)
def test_batch_uids_are_non_empty_and_capped(tool: str) -> None:
    uids = schema(tool)["properties"]["uids"]
    assert (uids["minItems"], uids["maxItems"]) == (1, 1000)
    assert uids["items"] == {"minimum": 1, "type": "integer"}


@pytest.mark.parametrize(
    ("tool", "arguments", "complaint"),
    [
        ("list_inbox", {"limit": 101}, "limit: Input should be less than or equal to 100"),
        ("list_inbox", {"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ("inbox_digest", {"limit": 51}, "limit"),
        ("inbox_digest", {"previewLength": 49}, "previewLength"),
        ("wait_for_email", {"timeout": 301}, "timeout"),
        ("wait_for_email", {"timeout": 0}, "timeout"),
        ("batch_delete", {"uids": []}, "uids: List should have at least 1 item"),
        ("batch_delete", {"uids": list(range(1, 1002))}, "uids: List should have at most 1000"),
        ("batch_read", {"uids": [0]}, "uids.0"),
        ("read_email", {}, "uid: Field required"),
        ("read_email", {"uid": 1, "uuid": 2}, "uuid: Extra inputs are not permitted"),
        ("send_email", {"to": "a@localhost"}, "subject: Field required"),
        ("create_account", {"name": "x", "role": "boss"}, "role"),
    ],
)
def test_bad_arguments_are_refused_with_the_field_and_rule(
    tool: str, arguments: dict[str, Any], complaint: str
) -> None:
    spec = tool_by_name(tool)
    assert spec is not None
    with pytest.raises(ToolFailure) as caught:
        spec.parse(arguments)
    assert f"invalid arguments for {tool}" in str(caught.value)
    assert complaint in str(caught.value)


def test_arrays_sent_as_json_text_are_decoded() -> None:
    spec = tool_by_name("batch_move")
    assert spec is not None
    parsed = spec.parse({"uids": "[3, 4]", "to": "Archive"})
    assert parsed.model_dump(by_alias=True) == {"uids": [3, 4], "to": "Archive", "from": "INBOX"}


def test_string_fields_are_never_json_decoded() -> None:
    spec = tool_by_name("send_email")
    assert spec is not None
    parsed = spec.parse({"to": "a@localhost", "subject": "[1, 2]", "text": "{x}"})
    assert parsed.model_dump()["subject"] == "[1, 2]"


def test_address_lists_and_reference_strings_are_accepted_leniently() -> None:
    spec = tool_by_name("send_email")
    assert spec is not None
    parsed = spec.parse(
        {"to": ["a@localhost", "b@localhost"], "subject": "s", "references": "<a@x> <b@x>"}
    )
    dumped = parsed.model_dump()
    assert dumped["to"] == "a@localhost, b@localhost"
    assert dumped["references"] == ["<a@x>", "<b@x>"]


def test_clean_schema_inlines_references_and_drops_nullable_unions() -> None:
    raw = {
        "$defs": {
            "Item": {"title": "Item", "type": "object", "properties": {"n": {"type": "integer"}}}
        },
        "title": "Args",
        "description": "model docstring",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "item": {"$ref": "#/$defs/Item", "description": "one item"},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
    }
    assert clean_schema(raw) == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "item": {
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "description": "one item",
            },
            "maybe": {"type": "string"},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
    }
