"""Folder names: special folders, client aliases and the rules for new names."""

from __future__ import annotations

import pytest

from agentpost.domain.folders import (
    INBOX,
    SENT,
    SPAM,
    SPECIAL_FOLDERS,
    TRASH,
    FolderNameError,
    canonical_folder,
    check_folder_name,
)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("inbox", INBOX),
        ("  InBoX ", INBOX),
        ("Sent Items", SENT),
        ("sent messages", SENT),
        ("Sent Mail", SENT),
        ("Junk", SPAM),
        ("Junk E-mail", SPAM),
        ("Deleted Items", TRASH),
        ("deleted messages", TRASH),
    ],
)
def test_aliases_map_to_the_stored_special_folder(given: str, stored: str) -> None:
    """Names other clients use for special folders (and any-case INBOX) find ours."""
    assert canonical_folder(given) == stored


def test_other_names_keep_their_case_and_are_only_stripped() -> None:
    """Only INBOX is case-insensitive (RFC 3501 §5.1); other names are stored as given."""
    assert canonical_folder("  Projects/2024 ") == "Projects/2024"
    assert canonical_folder("sent") == "sent"


def test_every_mailbox_has_the_special_use_folders() -> None:
    """The special folders carry their RFC 6154 attributes; INBOX has none."""
    assert SPECIAL_FOLDERS[INBOX] is None
    assert SPECIAL_FOLDERS[SENT] == "\\Sent"
    assert SPECIAL_FOLDERS[TRASH] == "\\Trash"
    assert SPECIAL_FOLDERS[SPAM] == "\\Junk"


@pytest.mark.parametrize(
    "name", ["Projects", "  Receipts  ", "Clients/Acme", "Ünïcode ✓", "a" * 200]
)
def test_good_folder_names_are_accepted_stripped(name: str) -> None:
    """Ordinary names, hierarchy with '/', Unicode and 200 characters are fine."""
    assert check_folder_name(name) == name.strip()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a" * 201, "at most 200"),
        ("a*b", "must not contain"),
        ("50%", "must not contain"),
        ("back\\slash", "must not contain"),
        ("two\r\nlines", "must not contain"),
        ("nul\x00", "must not contain"),
        ("/root", "'/'"),
        ("trailing/", "'/'"),
        ("a//b", "'//'"),
    ],
)
def test_bad_folder_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    """IMAP wildcards, line breaks, empty names and broken hierarchies are refused clearly."""
    with pytest.raises(FolderNameError, match=reason):
        check_folder_name(name)


def test_non_string_folder_name_is_refused() -> None:
    """A JSON number where a name belongs is reported as an empty/invalid name."""
    with pytest.raises(FolderNameError):
        check_folder_name(7)  # type: ignore[arg-type]
