"""The AES-GCM secret box: round trip, wrong key, rotation, tampering, key parsing."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from adapters.aes_secret_box import (
    AesGcmSecretBox,
    KeyringError,
    development_key,
    key_id,
    new_key_text,
    parse_keys,
)
from application.secrets import SecretUnreadableError

OLD, NEW = os.urandom(32), os.urandom(32)
CONTEXT = "scheduler:task:7:env.DB_PASSWORD"


def test_a_sealed_value_opens_in_its_context_and_holds_no_plaintext() -> None:
    box = AesGcmSecretBox([NEW])
    envelope = box.seal("hunter2", CONTEXT)
    assert envelope.startswith(f"v1:{key_id(NEW)}:")
    assert "hunter2" not in envelope
    assert box.open(envelope, CONTEXT) == "hunter2"


def test_each_seal_is_different_but_opens_to_the_same_value() -> None:
    box = AesGcmSecretBox([NEW])
    first, second = box.seal("tok123", CONTEXT), box.seal("tok123", CONTEXT)
    assert first != second
    assert box.open(first, CONTEXT) == box.open(second, CONTEXT) == "tok123"


def test_a_box_without_the_key_refuses_naming_the_key() -> None:
    envelope = AesGcmSecretBox([OLD]).seal("hunter2", CONTEXT)
    with pytest.raises(SecretUnreadableError, match=f"sealed with key {key_id(OLD)}"):
        AesGcmSecretBox([NEW]).open(envelope, CONTEXT)


def test_a_wrong_key_with_the_same_id_does_not_authenticate() -> None:
    envelope = AesGcmSecretBox([OLD]).seal("hunter2", CONTEXT)
    kid = key_id(OLD)
    forged = AesGcmSecretBox([NEW])
    forged._ciphers = {kid: forged._ciphers[key_id(NEW)]}  # same id, other key material
    with pytest.raises(SecretUnreadableError, match="does not authenticate"):
        forged.open(envelope, CONTEXT)


def test_rotation_seals_with_the_first_key_and_opens_with_every_key() -> None:
    old_box = AesGcmSecretBox([OLD])
    before = old_box.seal("hunter2", CONTEXT)
    rotated = AesGcmSecretBox([NEW, OLD])
    after = rotated.seal("tok123", CONTEXT)
    assert rotated.current_key_id == key_id(NEW)
    assert after.split(":")[1] == key_id(NEW)
    assert rotated.open(before, CONTEXT) == "hunter2"
    assert rotated.open(after, CONTEXT) == "tok123"
    with pytest.raises(SecretUnreadableError):
        old_box.open(after, CONTEXT)  # a process not given the new key yet


def test_an_altered_envelope_does_not_open() -> None:
    box = AesGcmSecretBox([NEW])
    version, kid, body = box.seal("hunter2", CONTEXT).split(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[15] ^= 0x01  # one bit of the ciphertext
    altered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(SecretUnreadableError, match="does not authenticate"):
        box.open(f"{version}:{kid}:{altered}", CONTEXT)


def test_an_envelope_moved_to_another_field_or_task_does_not_open() -> None:
    box = AesGcmSecretBox([NEW])
    envelope = box.seal("hunter2", CONTEXT)
    with pytest.raises(SecretUnreadableError, match="does not authenticate"):
        box.open(envelope, "scheduler:task:8:env.DB_PASSWORD")
    with pytest.raises(SecretUnreadableError, match="does not authenticate"):
        box.open(envelope, "scheduler:task:7:env.OTHER")


@pytest.mark.parametrize("envelope", ["", "v2:abc:AAAA", "v1::AAAA", "v1:abc", "v1:x:!!!"])
def test_a_malformed_envelope_is_refused_clearly(envelope: str) -> None:
    with pytest.raises(SecretUnreadableError):
        AesGcmSecretBox([NEW]).open(envelope, CONTEXT)


def test_keys_parse_newest_first_and_bad_keys_are_named_by_number_never_quoted() -> None:
    text = f"{base64.b64encode(NEW).decode()}, {base64.urlsafe_b64encode(OLD).decode()}"
    assert parse_keys(text) == [NEW, OLD]
    short = base64.b64encode(b"short-key-material").decode()
    with pytest.raises(KeyringError, match="key 2 of SCHEDULER_SECRET_KEY is 18 bytes") as e:
        parse_keys(f"{base64.b64encode(NEW).decode()},{short}")
    assert short not in str(e.value)
    with pytest.raises(KeyringError, match="key 1 of SCHEDULER_SECRET_KEY is not base64"):
        parse_keys("not base64 at all!")
    with pytest.raises(KeyringError, match="empty"):
        parse_keys(" , ")
    assert len(parse_keys(new_key_text())[0]) == 32


def test_a_development_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret.key"
    first = development_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert development_key(path) == first
    path.chmod(0o644)
    with pytest.raises(KeyringError, match="readable by others"):
        development_key(path)
