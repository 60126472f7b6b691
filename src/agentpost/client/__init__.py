"""Typed async Python SDK over the AgentPost REST API (``docs/api.md``).

    async with AgentPostClient("http://127.0.0.1:3100", "ak_...") as client:
        page = await client.inbox(limit=10)

``base`` holds the connection and the errors, ``http`` the client, ``models`` the answer models.
"""

from agentpost.client.base import API_PREFIX, DEFAULT_URL, APIUnavailable, ClientError, api_base
from agentpost.client.http import AgentPostClient
from agentpost.client.models import (
    Address,
    Agent,
    AgentDeleted,
    AttachmentInfo,
    BatchDeleted,
    BatchMoved,
    CreatedAgent,
    DeleteResult,
    Delivery,
    Digest,
    DigestEntry,
    DirectoryEntry,
    Folder,
    Health,
    Message,
    MessagePage,
    MoveResult,
    OutgoingAttachment,
    OwnerKey,
    RecipientStatus,
    SearchResult,
    SendResult,
    Summary,
    WaitResult,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_URL",
    "APIUnavailable",
    "Address",
    "Agent",
    "AgentDeleted",
    "AgentPostClient",
    "AttachmentInfo",
    "BatchDeleted",
    "BatchMoved",
    "ClientError",
    "CreatedAgent",
    "DeleteResult",
    "Delivery",
    "Digest",
    "DigestEntry",
    "DirectoryEntry",
    "Folder",
    "Health",
    "Message",
    "MessagePage",
    "MoveResult",
    "OutgoingAttachment",
    "OwnerKey",
    "RecipientStatus",
    "SearchResult",
    "SendResult",
    "Summary",
    "WaitResult",
    "api_base",
]
