"""The one error tree of AgentPost.

Every failure a caller can act on is an ``AgentPostError`` with a stable ``code`` (part of the
API contract: clients switch on it) and an HTTP ``status``. The API, the MCP tools, the SMTP
listener and the console map these in one place each; nothing below ``api/`` raises
``HTTPException``.

    AgentPostError
    ├── InvalidInput (400)            ├── NotFound (404)
    │   └── HeaderInjection           │   ├── AgentNotFound
    ├── Unauthenticated (401)         │   ├── MessageNotFound
    ├── Forbidden (403)               │   └── FolderNotFound
    ├── Conflict (409)                ├── PayloadTooLarge (413)
    │   ├── AgentExists               ├── RateLimited (429)
    │   └── FolderExists              └── MailboxFull (507)
"""

from __future__ import annotations


class AgentPostError(Exception):
    """Base class: a message a person can act on, a stable code and an HTTP status."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        body = {"error": self.message, "code": self.code}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidInput(AgentPostError):
    code = "invalid_input"
    status = 400


class HeaderInjection(InvalidInput):
    """CR or LF inside a value that becomes a header line (RFC 5322 §2.2)."""

    code = "header_injection"


class Unauthenticated(AgentPostError):
    code = "unauthorized"
    status = 401


class Forbidden(AgentPostError):
    code = "forbidden"
    status = 403


class NotFound(AgentPostError):
    code = "not_found"
    status = 404


class AgentNotFound(NotFound):
    code = "agent_not_found"


class MessageNotFound(NotFound):
    code = "message_not_found"


class FolderNotFound(NotFound):
    code = "folder_not_found"


class Conflict(AgentPostError):
    code = "conflict"
    status = 409


class AgentExists(Conflict):
    code = "agent_exists"


class FolderExists(Conflict):
    code = "folder_exists"


class PayloadTooLarge(AgentPostError):
    code = "payload_too_large"
    status = 413


class RateLimited(AgentPostError):
    code = "rate_limited"
    status = 429


class MailboxFull(AgentPostError):
    code = "mailbox_full"
    status = 507
