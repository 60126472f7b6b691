"""Argument types shared by the tools, with the ranges hosts see in each JSON Schema."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

MAX_BATCH = 1000


def _comma_joined(value: Any) -> Any:
    """Accept a list of addresses where the schema advertises one comma-separated string."""
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return value


Uid = Annotated[
    int, Field(ge=1, description="Message UID, as shown by list_inbox or search_emails.")
]
Folder = Annotated[str, Field(min_length=1, description='Folder name (default "INBOX").')]
Limit = Annotated[int, Field(ge=1, le=100, description="How many messages to list (1-100).")]
Offset = Annotated[int, Field(ge=0, description="How many newest messages to skip (paging).")]
Uids = Annotated[
    list[Annotated[int, Field(ge=1)]],
    Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Message UIDs in one folder (1-{MAX_BATCH} of them).",
    ),
]
Recipients = Annotated[
    str,
    BeforeValidator(_comma_joined),
    Field(min_length=1, description="One address, or several separated by commas."),
]
