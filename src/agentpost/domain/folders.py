"""Folder names and the special folders every mailbox has (RFC 6154 special-use)."""

from __future__ import annotations

INBOX = "INBOX"
SENT = "Sent"
DRAFTS = "Drafts"
TRASH = "Trash"
SPAM = "Spam"
ARCHIVE = "Archive"

SPECIAL_FOLDERS: dict[str, str | None] = {
    INBOX: None,
    SENT: "\\Sent",
    DRAFTS: "\\Drafts",
    TRASH: "\\Trash",
    SPAM: "\\Junk",
    ARCHIVE: "\\Archive",
}

# Common names clients use for the same special folders, so "Sent Items" finds Sent.
ALIASES = {
    "inbox": INBOX,
    "sent items": SENT,
    "sent messages": SENT,
    "sent mail": SENT,
    "junk": SPAM,
    "junk e-mail": SPAM,
    "deleted items": TRASH,
    "deleted messages": TRASH,
}
MAX_FOLDER_NAME = 200
_FORBIDDEN = set("\\*%\r\n\x00")


class FolderNameError(ValueError):
    """A folder name that cannot be used; the message says why."""


def canonical_folder(name: str) -> str:
    """Map aliases and the case-insensitive INBOX (RFC 3501 §5.1) to the stored name."""
    stripped = name.strip()
    return ALIASES.get(stripped.lower(), stripped)


def check_folder_name(name: str) -> str:
    """Validate a new folder name; returns it stripped."""
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped:
        raise FolderNameError("folder name must not be empty")
    if len(stripped) > MAX_FOLDER_NAME:
        raise FolderNameError(f"folder name must be at most {MAX_FOLDER_NAME} characters")
    if any(ch in _FORBIDDEN for ch in stripped):
        raise FolderNameError("folder name must not contain \\ * % or line breaks")
    if stripped.startswith("/") or stripped.endswith("/") or "//" in stripped:
        raise FolderNameError("folder name must not start or end with '/' or contain '//'")
    return stripped
