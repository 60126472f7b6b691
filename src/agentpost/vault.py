"""The vault: AES-256-GCM sealing of stored credentials (SMTP and relay passwords).

A sealed value is a token ``<key id>:<base64url(nonce || ciphertext+tag)>``. The key id is a
truncated SHA-256 of the key itself, so it names a key without revealing it and needs no table.
Every seal uses a fresh 96-bit random nonce (NIST SP 800-38D §8.2.2) and binds a *context*
string as associated data (e.g. ``smtp_configs:<id>``), so a ciphertext copied onto another
row does not decrypt.

Where the keys come from:

* ``AGENTPOST_VAULT_KEY`` (32 bytes, base64 or hex) is the active key; keys listed in
  ``AGENTPOST_VAULT_PREVIOUS_KEYS`` stay readable, as do keys in the key file if one exists.
* Otherwise the key file ``vault.key`` in the data dir (mode 0600, made on first use): one
  base64 key per line, the last line is the active key.

Rotation (``agentpost vault rotate``, services/vault_rotation.py) adds a new key to the file,
re-seals every stored value under it, and only then drops the old keys. Other processes notice
the file changed (its mtime) before their next seal, and reload it when they meet an unknown
key id, so they keep working during a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agentpost.errors import VaultError, VaultKeyMissing

if TYPE_CHECKING:
    from agentpost.config import Settings

KEY_FILE = "vault.key"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FORMAT_HINT = "a vault key is 32 bytes written as base64 (44 characters) or hex (64 characters)"


def parse_key(text: str) -> bytes:
    """Decode a 32-byte key written as hex or base64 (standard or URL-safe alphabet)."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 2 * KEY_BYTES:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != KEY_BYTES:
        raise ValueError(KEY_FORMAT_HINT)
    return raw


def key_id_for(key: bytes) -> str:
    """A stable public name for a key: 16 hex characters of a domain-separated SHA-256."""
    return hashlib.sha256(b"agentpost-vault-key-id\0" + key).hexdigest()[:16]


def key_id_of(token: str) -> str:
    """The id of the key a token was sealed under (no decryption needed)."""
    key_id, sep, _ = token.partition(":")
    if not sep or not key_id:
        raise VaultError("a stored credential is not a vault token; re-enter the password")
    return key_id


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys this process can use: ``active`` seals, every key in ``keys`` opens."""

    active: str
    keys: dict[str, bytes]


class Vault:
    """Seals and opens secrets; holds its keys in memory only."""

    def __init__(self, *, env_key: bytes | None, previous: list[bytes], key_file: Path) -> None:
        self._env_key = env_key
        self._previous = previous
        self._key_file = key_file
        self._file_mtime: int | None = None
        self._ring = self._load()

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        env_key = None
        previous: list[bytes] = []
        try:
            if settings.vault_key is not None:
                env_key = parse_key(settings.vault_key.get_secret_value())
            if settings.vault_previous_keys is not None:
                text = settings.vault_previous_keys.get_secret_value()
                previous = [parse_key(part) for part in text.split(",") if part.strip()]
        except ValueError:
            # Never echo the value: it is a key.
            raise VaultError(
                f"AGENTPOST_VAULT_KEY / AGENTPOST_VAULT_PREVIOUS_KEYS: {KEY_FORMAT_HINT}"
            ) from None
        return cls(env_key=env_key, previous=previous, key_file=settings.data_dir / KEY_FILE)

    @property
    def uses_key_file(self) -> bool:
        """True when the active key lives in the key file (rotation can make a new one)."""
        return self._env_key is None

    @property
    def active_key_id(self) -> str:
        self._refresh()
        return self._ring.active

    def key_ids(self) -> list[str]:
        self._refresh()
        return sorted(self._ring.keys)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        self._refresh()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self._ring.keys[self._ring.active]).encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{self._ring.active}:{body}"

    def decrypt(self, token: str, *, context: str) -> str:
        key_id = key_id_of(token)
        key = self._ring.keys.get(key_id)
        if key is None:
            self._refresh(force=True)
            key = self._ring.keys.get(key_id)
        if key is None:
            raise VaultKeyMissing(
                f"a stored credential is sealed under vault key {key_id}, which this server "
                "does not have; restore that key (AGENTPOST_VAULT_PREVIOUS_KEYS or the key "
                "file) or re-enter the password"
            )
        try:
            blob = base64.urlsafe_b64decode(token.partition(":")[2])
            plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError, binascii.Error):
            raise VaultError(
                "a stored credential could not be decrypted (altered data or wrong key); "
                "re-enter the password"
            ) from None
        return plain.decode("utf-8")

    # -- key file management (rotation) ---------------------------------------------------

    def add_file_key(self) -> str:
        """Append a fresh key to the key file and make it active; returns its id."""
        if not self.uses_key_file:
            raise VaultError(
                "the active vault key comes from AGENTPOST_VAULT_KEY; to rotate, set the new "
                "key there, move the old one to AGENTPOST_VAULT_PREVIOUS_KEYS, then run "
                "`agentpost vault rotate` again"
            )
        keys = [*_read_key_file(self._key_file), generate_key()]
        _write_key_file(self._key_file, keys)
        self._refresh(force=True)
        return self._ring.active

    def retire_file_keys(self) -> list[str]:
        """Drop every key but the active one from the key file; returns the dropped ids."""
        if not self.uses_key_file:
            return []
        self._refresh(force=True)
        keys = _read_key_file(self._key_file)
        dropped = [key_id_for(k) for k in keys if key_id_for(k) != self._ring.active]
        _write_key_file(self._key_file, [k for k in keys if key_id_for(k) == self._ring.active])
        self._refresh(force=True)
        return dropped

    def _refresh(self, *, force: bool = False) -> None:
        try:
            mtime = self._key_file.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if force or mtime != self._file_mtime:
            self._ring = self._load()

    def _load(self) -> Keyring:
        file_keys: list[bytes] = []
        if self._env_key is None:
            file_keys = _ensure_key_file(self._key_file)
        elif self._key_file.exists():
            file_keys = _read_key_file(self._key_file)
        try:
            self._file_mtime = self._key_file.stat().st_mtime_ns
        except FileNotFoundError:
            self._file_mtime = None
        active = self._env_key if self._env_key is not None else file_keys[-1]
        keys = {key_id_for(k): k for k in [*self._previous, *file_keys, active]}
        return Keyring(active=key_id_for(active), keys=keys)


def _ensure_key_file(path: Path) -> list[bytes]:
    """The key file's keys, creating it (0600, one fresh key) when it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(_encode_keys([generate_key()]))
    return _read_key_file(path)


def _read_key_file(path: Path) -> list[bytes]:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    try:
        keys = [parse_key(ln) for ln in lines if ln and not ln.startswith("#")]
    except ValueError:
        raise VaultError(f"the vault key file {path} is damaged: {KEY_FORMAT_HINT}") from None
    if not keys:
        raise VaultError(f"the vault key file {path} holds no key")
    return keys


def _write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically, never leaving a moment where it is world-readable."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_encode_keys(keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _encode_keys(keys: list[bytes]) -> str:
    header = "# AgentPost vault keys: base64, one per line; the last one seals new values.\n"
    return header + "".join(base64.b64encode(k).decode("ascii") + "\n" for k in keys)
