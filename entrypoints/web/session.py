"""The UI's session cookie: sealed (AES-GCM), expiring, carrying the API key it signed in with.

The cookie holds the key itself so every request is checked by the API's own authentication:
a revoked or expired key stops working at once, and no session table is needed. Sealed with a
key derived from SCHEDULER_SECRET_KEY (so several API processes share sessions), else with a
random key of this process (sessions end when it restarts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE = "scheduler_session"
SESSION_SECONDS = 12 * 3600  # a working day: sign in again after it
NONCE_BYTES = 12
CONTEXT = b"scheduler:ui-session"


@dataclass(frozen=True)
class Session:
    """One browser's session: its API key (None: anonymous loopback) and CSRF secret."""

    key: str | None
    nonce: str
    expires_at: float


def derive_key(master: bytes | None) -> bytes:
    """The cookie key: derived from the secret-box key (HKDF), else random for this process."""
    if master is None:
        return os.urandom(32)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT)
    return hkdf.derive(master)


class SessionSealer:
    """Seals sessions into cookie values and opens them (None when forged or expired)."""

    def __init__(self, key: bytes) -> None:
        self._cipher = AESGCM(key)
        self._mac_key = hashlib.sha256(b"csrf:" + key).digest()

    def new(self, api_key: str | None, now: float | None = None) -> Session:
        """A fresh session, with a new CSRF secret."""
        start = time.time() if now is None else now
        return Session(api_key, secrets.token_urlsafe(16), start + SESSION_SECONDS)

    def seal(self, session: Session) -> str:
        """The cookie value of a session."""
        nonce = os.urandom(NONCE_BYTES)
        plain = orjson.dumps({"k": session.key, "n": session.nonce, "e": session.expires_at})
        sealed = nonce + self._cipher.encrypt(nonce, plain, CONTEXT)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, value: str, now: float | None = None) -> Session | None:
        """The session in a cookie value; None when it is not ours, damaged or expired."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self._cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], CONTEXT)
            data = orjson.loads(plain)
            session = Session(data["k"], str(data["n"]), float(data["e"]))
        except (ValueError, InvalidTag, KeyError, TypeError):
            return None
        if session.expires_at <= (time.time() if now is None else now):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The token every form of this session carries."""
        return hmac.new(self._mac_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        """Whether a form's token belongs to this session."""
        if session is None or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session), token)
