"""AES-256-GCM secret box: envelopes `v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.

Several keys: the first seals, every one opens (rotation, docs/security.md#secrets). The
context is the associated data, so an envelope opens only where it was sealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.secrets import SecretUnreadableError

KEY_ENV = "SCHEDULER_SECRET_KEY"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per value (2^-32 collision bound at 2^32 seals)
VERSION = "v1"
CONFIG_CONTEXT = "scheduler:config"  # what `enc:` values in configuration files are bound to
CONFIG_PREFIX = "enc:"


class KeyringError(ValueError):
    """SCHEDULER_SECRET_KEY (or a key file) does not hold usable keys; says which and why."""


def key_id(key: bytes) -> str:
    """A short public name of a key (a hash of it): which key sealed an envelope."""
    return hashlib.sha256(b"scheduler-secret-key-id:" + key).hexdigest()[:8]


def parse_keys(text: str, source: str = KEY_ENV) -> list[bytes]:
    """Comma-separated base64 keys of 32 bytes each, the newest first.

    Raises:
        KeyringError: a key is not base64 or not 32 bytes (the key itself is never quoted).
    """
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise KeyringError(f"{source} is empty: give one or more base64 keys of {KEY_BYTES} bytes")
    keys: list[bytes] = []
    for number, part in enumerate(parts, start=1):
        try:
            key = base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"key {number} of {source} is not base64") from None
        if len(key) != KEY_BYTES:
            raise KeyringError(
                f"key {number} of {source} is {len(key)} bytes, not {KEY_BYTES} "
                "(make one with: openssl rand -base64 32)"
            )
        keys.append(key)
    return keys


def new_key_text(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh key as SCHEDULER_SECRET_KEY holds it."""
    return base64.b64encode(random_bytes(KEY_BYTES)).decode()


class AesGcmSecretBox:
    """Seals with the first key, opens with whichever key an envelope names."""

    def __init__(
        self, keys: Sequence[bytes], random_bytes: Callable[[int], bytes] = os.urandom
    ) -> None:
        if not keys:
            raise KeyringError("no keys")
        self._current = key_id(keys[0])
        self._ciphers = {key_id(key): AESGCM(key) for key in keys}
        self._random = random_bytes

    @property
    def current_key_id(self) -> str:
        """The key that seals new values."""
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key that opens values, the current one first."""
        return tuple(self._ciphers)

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt a value for one context."""
        nonce = self._random(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}:{self._current}:{body}"

    def open(self, envelope: str, context: str) -> str:
        """Decrypt a value sealed for this context.

        Raises:
            SecretUnreadableError: malformed, sealed with a key not configured, or it does not
                authenticate (wrong key, altered, or moved from another context).
        """
        version, _, rest = envelope.partition(":")
        kid, _, body = rest.partition(":")
        if version != VERSION or not kid or not body:
            raise SecretUnreadableError(f"malformed envelope (expected {VERSION}:<key id>:<data>)")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SecretUnreadableError(
                f"sealed with key {kid}, which is not configured ({KEY_ENV} holds "
                f"{', '.join(self._ciphers)})"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SecretUnreadableError("malformed envelope (its data is not base64)") from None
        if len(raw) <= NONCE_BYTES:
            raise SecretUnreadableError("malformed envelope (too short)")
        try:
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise SecretUnreadableError(
                f"does not authenticate with key {kid}: altered, or moved from elsewhere"
            ) from None
        return plain.decode()


def encrypt_config_value(box: AesGcmSecretBox, plaintext: str) -> str:
    """A configuration value as `enc:v1:<key id>:<data>`."""
    return CONFIG_PREFIX + box.seal(plaintext, CONFIG_CONTEXT)


def decrypt_config_value(box: AesGcmSecretBox, value: str) -> str:
    """The plain text of an `enc:` configuration value (SecretUnreadableError says why not)."""
    return box.open(value.removeprefix(CONFIG_PREFIX), CONFIG_CONTEXT)


def development_key(path: Path) -> bytes:
    """The key in a development key file, made (mode 0600) if the file does not exist yet.

    Raises:
        KeyringError: the file exists but holds no usable key, or is readable by others.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then linked into place: a process starting at the same moment
        # either links first or reads the complete file of the one that did.
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(new_key_text() + "\n")
        with suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyringError(f"{path} is readable by others: chmod 600 {path}")
    text = path.read_text().strip()
    return parse_keys(text, str(path))[0]
