"""Typed async Python SDK over the AgentPost REST API (``docs/api.md``).

    async with AgentPostClient("http://127.0.0.1:3100", "ak_...") as client:
        page = await client.inbox(limit=10)

``http`` holds the client and its errors; ``models`` the answer models.
"""

from agentpost.client.http import (
    API_PREFIX,
    DEFAULT_URL,
    AgentPostClient,
    APIUnavailable,
    ClientError,
    api_base,
)
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
    "RecipientStatus",
    "SearchResult",
    "SendResult",
    "Summary",
    "WaitResult",
    "api_base",
]
