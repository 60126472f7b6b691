"""The vault: sealing round trips, wrong keys and contexts, key sources, rotation, file mode."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from agentpost.config import Settings
from agentpost.errors import VaultError, VaultKeyMissing
from agentpost.vault import KEY_FILE, Vault, generate_key, key_id_for, key_id_of, parse_key


def file_vault(tmp_path: Path) -> Vault:
    return Vault.from_settings(Settings(data_dir=tmp_path))


def test_round_trip_and_fresh_nonce(tmp_path: Path) -> None:
    vault = file_vault(tmp_path)
    one = vault.encrypt("pässword", context="smtp_configs:a")
    two = vault.encrypt("pässword", context="smtp_configs:a")
    assert one != two  # a fresh nonce per seal
    assert "pässword" not in one
    assert key_id_of(one) == vault.active_key_id
    assert vault.decrypt(one, context="smtp_configs:a") == "pässword"


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    vault = file_vault(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = vault.encrypt("s3cret", context="c")
    assert file_vault(tmp_path).decrypt(token, context="c") == "s3cret"


def test_other_context_or_altered_token_is_refused(tmp_path: Path) -> None:
    vault = file_vault(tmp_path)
    token = vault.encrypt("s3cret", context="smtp_configs:a")
    with pytest.raises(VaultError):
        vault.decrypt(token, context="smtp_configs:b")
    key_id, _, body = token.partition(":")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    altered = f"{key_id}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(VaultError, match="could not be decrypted"):
        vault.decrypt(altered, context="smtp_configs:a")


def test_wrong_key_names_the_missing_key(tmp_path: Path) -> None:
    token = file_vault(tmp_path / "one").encrypt("s3cret", context="c")
    other = file_vault(tmp_path / "two")
    with pytest.raises(VaultKeyMissing, match=key_id_of(token)) as info:
        other.decrypt(token, context="c")
    assert "s3cret" not in str(info.value)


def test_env_key_hex_or_base64_and_previous_keys(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    old_vault = Vault.from_settings(Settings(data_dir=tmp_path, vault_key=SecretStr(old.hex())))
    token = old_vault.encrypt("s3cret", context="c")
    assert key_id_of(token) == key_id_for(old)
    assert not (tmp_path / KEY_FILE).exists()  # an env key needs no file
    rotated = Vault.from_settings(
        Settings(
            data_dir=tmp_path,
            vault_key=SecretStr(base64.b64encode(new).decode()),
            vault_previous_keys=SecretStr(base64.urlsafe_b64encode(old).decode()),
        )
    )
    assert rotated.active_key_id == key_id_for(new)
    assert rotated.decrypt(token, context="c") == "s3cret"


@pytest.mark.parametrize("bad", ["short", "00" * 31, base64.b64encode(b"x" * 31).decode()])
def test_bad_env_key_is_refused_without_echoing_it(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        parse_key(bad)
    with pytest.raises(VaultError, match="AGENTPOST_VAULT_KEY") as info:
        Vault.from_settings(Settings(data_dir=tmp_path, vault_key=SecretStr(bad)))
    assert bad not in str(info.value)


def test_file_rotation_keeps_old_key_until_retired(tmp_path: Path) -> None:
    vault = file_vault(tmp_path)
    old_id = vault.active_key_id
    token = vault.encrypt("s3cret", context="c")
    new_id = vault.add_file_key()
    assert new_id != old_id and vault.active_key_id == new_id
    assert vault.decrypt(token, context="c") == "s3cret"  # still readable mid-rotation
    resealed = vault.encrypt(vault.decrypt(token, context="c"), context="c")
    assert vault.retire_file_keys() == [old_id]
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert vault.key_ids() == [new_id]
    with pytest.raises(VaultKeyMissing):
        vault.decrypt(token, context="c")
    assert vault.decrypt(resealed, context="c") == "s3cret"


def test_another_process_sees_a_rotated_key_file(tmp_path: Path) -> None:
    writer, reader = file_vault(tmp_path), file_vault(tmp_path)
    writer.add_file_key()
    token = writer.encrypt("s3cret", context="c")
    assert reader.decrypt(token, context="c") == "s3cret"  # reloads on an unknown key id
    assert reader.active_key_id == writer.active_key_id  # and seals under the new key


def test_env_key_cannot_rotate_by_file(tmp_path: Path) -> None:
    vault = Vault.from_settings(
        Settings(data_dir=tmp_path, vault_key=SecretStr(generate_key().hex()))
    )
    with pytest.raises(VaultError, match="AGENTPOST_VAULT_PREVIOUS_KEYS"):
        vault.add_file_key()
