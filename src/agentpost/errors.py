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


class DeliveryPending(Conflict):
    """Removing a message (or an agent) would throw away deliveries still queued, sending or
    retrying: they must finish, or be cancelled explicitly, first."""

    code = "delivery_pending"


class PayloadTooLarge(AgentPostError):
    code = "payload_too_large"
    status = 413


class RateLimited(AgentPostError):
    """A limit was reached; ``retry_after`` (seconds) becomes the Retry-After header."""

    code = "rate_limited"
    status = 429

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.retry_after = retry_after


class MailboxFull(AgentPostError):
    code = "mailbox_full"
    status = 507


# -- SMTP configurations and the vault (issue 3) -------------------------------------------


class SmtpConfigNotFound(NotFound):
    code = "smtp_config_not_found"


class SmtpConfigExists(Conflict):
    code = "smtp_config_exists"


class VaultError(AgentPostError):
    """A stored credential cannot be sealed or opened; the message says what to do."""

    code = "vault_error"
    status = 500


class VaultKeyMissing(VaultError):
    code = "vault_key_missing"


# -- permissions, idempotency, function calling, account lifecycle (issue 3, issue 5) -------


class PermissionNotFound(NotFound):
    code = "permission_not_found"


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before with a different request."""

    code = "idempotency_conflict"


class IdempotencyInProgress(Conflict):
    """A request with this Idempotency-Key is still running (or its answer was lost)."""

    code = "idempotency_in_progress"


class ToolNotFound(NotFound):
    code = "tool_not_found"


class DeletionReportNotFound(NotFound):
    code = "deletion_report_not_found"


# -- tags, rules, tasks (issue 5, workflow) -----------------------------------------------------


class TagNotFound(NotFound):
    code = "tag_not_found"


class TagExists(Conflict):
    code = "tag_exists"


class RuleNotFound(NotFound):
    code = "rule_not_found"


class RuleExists(Conflict):
    code = "rule_exists"


class TaskNotFound(NotFound):
    code = "task_not_found"


class NotTaskAssignee(Forbidden):
    """Only the agent a task is assigned to may claim it or submit its result."""

    code = "not_task_assignee"


class TaskStateConflict(Conflict):
    """The task is not in a state that allows this (already claimed, already completed)."""

    code = "task_state_conflict"


class TaskExpired(AgentPostError):
    code = "task_expired"
    status = 410


# -- content area (contacts, drafts, signatures, templates, scheduled sends) ---------------


class ContactNotFound(NotFound):
    code = "contact_not_found"


class DraftNotFound(NotFound):
    code = "draft_not_found"


class SignatureNotFound(NotFound):
    code = "signature_not_found"


class TemplateNotFound(NotFound):
    code = "template_not_found"


class ScheduledNotFound(NotFound):
    code = "scheduled_not_found"


class TemplateVariablesMissing(InvalidInput):
    """A template names variables the call did not supply (all of them are listed)."""

    code = "template_variables_missing"


# -- relay gateway and setup tools (issue 3, issue 5) ----------------------------------------


class RelayNotConfigured(InvalidInput):
    """The owner has no relay account yet (setup_email_relay / POST /gateway/relay)."""

    code = "relay_not_configured"


class RelayCheckFailed(InvalidInput):
    """The relay account's IMAP or SMTP server refused or could not be reached; the code says
    which (``relay_login_failed``, ``relay_unreachable``, ``relay_tls_failed``)."""

    code = "relay_check_failed"


class RelayMessageNotFound(NotFound):
    code = "relay_message_not_found"


class NotConfigured(AgentPostError):
    """A gateway feature this server does not offer yet; the message says what to do instead."""

    code = "not_configured"
    status = 501


# -- outbound guard and approvals (issue 4) --------------------------------------------------


class ApprovalRequiresOwner(Forbidden):
    """Only the owner (owner key or master key) approves or rejects held mail."""

    code = "approval_requires_owner"


class PendingNotFound(NotFound):
    code = "pending_not_found"


class PendingResolved(Conflict):
    """The item was already approved, rejected or expired: an approval is single-use."""

    code = "pending_resolved"


class ApprovalMismatch(Conflict):
    """The approval names content other than what is held (it changed, or a stale view)."""

    code = "approval_mismatch"


# -- inbound scanning and loop protection (issue 4) -------------------------------------------


class ReplyLoop(RateLimited):
    """Too many replies to one counterparty in one thread: two mailers are ping-ponging."""

    code = "reply_loop"

    def __init__(
        self, message: str, *, party: str, thread: str, retry_after: int, field: str = "to"
    ) -> None:
        super().__init__(message, retry_after=retry_after, field=field)
        self.party = party
        self.thread = thread
