"""JWT verification with PyJWT: HS256 with a shared secret, RS256 / ES256 with public keys.

The algorithm is pinned per key, never taken from the token: the secret verifies only HS256,
an RSA key only RS256, a P-256 key only ES256. `alg: none`, any other algorithm and a token
whose algorithm does not match its key (the HS256-with-the-public-key confusion) are refused.
The key files are read again when they change, so keys can be rotated without a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.types import Options

logger = logging.getLogger(__name__)

ASYMMETRIC = ("RS256", "ES256")
MIN_RSA_BITS = 2048
RELOAD_CHECK_SECONDS = 1.0  # how often the key files' modification times are looked at


class TokenError(Exception):
    """A token that does not prove who its bearer is; `reason` labels the metric."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


class JwtKeyError(Exception):
    """A configured key file cannot be used (a start-up error)."""


@dataclass(frozen=True)
class VerifyingKey:
    """A public key and the one algorithm it verifies."""

    key: Any
    algorithm: str
    key_id: str | None = None


def public_key_from_pem(data: bytes, source: str) -> VerifyingKey:
    """An RSA (RS256) or EC P-256 (ES256) public key from PEM text.

    Raises:
        JwtKeyError: not a PEM public key, or of a type or size that is not accepted.
    """
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as error:
        raise JwtKeyError(f"{source}: not a PEM public key ({error})") from None
    return _pinned(key, source, None)


def keys_from_jwks(text: str, source: str) -> list[VerifyingKey]:
    """The RS256 / ES256 signing keys of a JWKS document (other keys are skipped, logged).

    Raises:
        JwtKeyError: not a JWKS, or it holds no usable signing key.
    """
    try:
        document = json.loads(text)
        entries = document["keys"]
        assert isinstance(entries, list)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise JwtKeyError(f"{source}: not a JWKS document ({{'keys': [...]}})") from None
    keys = []
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        try:
            if entry.get("use", "sig") != "sig":
                raise JwtKeyError("an encryption key")
            if entry.get("kty") not in ("RSA", "EC"):
                raise JwtKeyError(f"key type {entry.get('kty')!r} (only RSA and EC are accepted)")
            jwk = jwt.PyJWK.from_dict(entry)
            key = _pinned(jwk.key, source, kid)
            if entry.get("alg") not in (None, key.algorithm):
                raise JwtKeyError(f"alg {entry['alg']!r} does not fit the key")
            keys.append(key)
        except (JwtKeyError, jwt.PyJWKError, jwt.InvalidKeyError, ValueError) as error:
            logger.warning("JWKS %s: key %r skipped: %s", source, kid, error)
    if not keys:
        raise JwtKeyError(f"{source}: no RS256 or ES256 signing key in the JWKS")
    return keys


def _pinned(key: Any, source: str, kid: str | None) -> VerifyingKey:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise JwtKeyError(f"{source}: an RSA key of {key.key_size} bits (at least 2048)")
        return VerifyingKey(key, "RS256", kid)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return VerifyingKey(key, "ES256", kid)
    raise JwtKeyError(f"{source}: only RSA (RS256) and EC P-256 (ES256) public keys are accepted")


class _KeyFile:
    """A key file and the keys last read from it, read again when it changes."""

    def __init__(self, path: Path, parse: Callable[[bytes, str], list[VerifyingKey]]) -> None:
        self.path = path
        self._parse = parse
        self._mtime = self._stat()
        self.keys = parse(self._read(), str(path))
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError as error:
            raise JwtKeyError(f"{self.path}: cannot read: {error.strerror or error}") from None

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as error:
            raise JwtKeyError(f"{self.path}: cannot read: {error.strerror or error}") from None

    def current(self) -> list[VerifyingKey]:
        """The keys, re-read if the file changed (a failed re-read keeps the old ones)."""
        if time.monotonic() - self._checked >= RELOAD_CHECK_SECONDS and self._lock.acquire(False):
            try:
                self._checked = time.monotonic()
                mtime = self._stat()
                if mtime != self._mtime:
                    self.keys, self._mtime = self._parse(self._read(), str(self.path)), mtime
                    logger.info("JWT keys reloaded from %s", self.path)
            except JwtKeyError as error:
                logger.error("JWT keys not reloaded, the old ones stay: %s", error)
            finally:
                self._lock.release()
        return self.keys


class JwtVerifier:
    """Checks a token's signature, `exp`, `nbf`, `iss` and `aud`; returns its claims."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key_file: Path | None = None,
        jwks_file: Path | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: float = 0.0,
    ) -> None:
        self._secret = secret
        self._files = []
        if public_key_file is not None:
            self._files.append(
                _KeyFile(public_key_file, lambda data, src: [public_key_from_pem(data, src)])
            )
        if jwks_file is not None:
            self._files.append(
                _KeyFile(jwks_file, lambda data, src: keys_from_jwks(data.decode(), src))
            )
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        required = ["exp", "sub"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
        self._options: Options = {"require": required, "enforce_minimum_key_length": True}

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, once every check passed.

        Raises:
            TokenError: malformed, unsigned, wrongly signed, expired, not yet valid, or for
                another issuer or audience.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise TokenError("malformed_token", "the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        candidates = self._candidates(algorithm, header.get("kid"))
        if not candidates:
            raise TokenError(
                "token_algorithm", f"tokens signed with {str(algorithm)[:20]!r} are not accepted"
            )
        failure: TokenError | None = None
        for key, pinned in candidates:
            try:
                return jwt.decode(
                    token,
                    key=key,
                    algorithms=[pinned],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                    options=self._options,
                )
            except jwt.InvalidSignatureError:
                failure = TokenError("bad_signature", "the token's signature does not verify")
            except jwt.PyJWTError as error:
                raise _token_error(error) from None
        assert failure is not None
        raise failure

    def _candidates(self, algorithm: Any, kid: Any) -> list[tuple[Any, str]]:
        if algorithm == "HS256":
            return [(self._secret, "HS256")] if self._secret else []
        if algorithm not in ASYMMETRIC:
            return []
        keys = [k for f in self._files for k in f.current() if k.algorithm == algorithm]
        if kid is not None and any(k.key_id for k in keys):
            keys = [k for k in keys if k.key_id in (kid, None)]
        return [(k.key, k.algorithm) for k in keys]


def _token_error(error: jwt.PyJWTError) -> TokenError:
    if isinstance(error, jwt.ExpiredSignatureError):
        return TokenError("expired_token", "the token has expired")
    if isinstance(error, jwt.ImmatureSignatureError):
        return TokenError("token_not_yet_valid", "the token is not valid yet (nbf or iat)")
    if isinstance(error, jwt.InvalidAudienceError):
        return TokenError("wrong_audience", "the token is not for this audience")
    if isinstance(error, jwt.InvalidIssuerError):
        return TokenError("wrong_issuer", "the token is not from the expected issuer")
    if isinstance(error, jwt.MissingRequiredClaimError):
        return TokenError("missing_claim", f"the token lacks the {error.claim!r} claim")
    if isinstance(error, jwt.InvalidAlgorithmError):
        return TokenError("token_algorithm", "the token's algorithm does not fit its key")
    return TokenError("malformed_token", f"the token cannot be read: {error}")
