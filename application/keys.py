"""API key commands: issue, revoke and look up keys (a mixin of SchedulerApp).

A key is `sk_` + 32 random bytes (urlsafe base64). Only its SHA-256 is stored: a slow KDF
(bcrypt, argon2) protects low-entropy passwords against guessing, but guessing a 256-bit
random secret is hopeless at any speed, so one fast hash is enough and lets every request
be checked in microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from application.commands.base import CommandsBase
from domain.api_key import ApiKey
from domain.api_key_name import ApiKeyName
from domain.context import CommandContext
from domain.errors import ApiKeyNameTakenError, InvalidFieldError, NotFoundError
from domain.ids import parse_uuid
from domain.namespace import ALL_NAMESPACES

if TYPE_CHECKING:
    pass

KEY_PREFIX = "sk_"
KEY_BYTES = 32
_DURATION = re.compile(r"(\d{1,9})([wdhms])")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
MAX_DURATION = timedelta(days=3_650)


def new_key_secret() -> str:
    """A fresh API key: the prefix and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def key_digest(secret: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    """Compare two digests in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


def parse_duration(text: str, field: str = "expires_in") -> timedelta:
    """`90d`, `12h`, `1w2d`, `30m`, `3600s` as a duration.

    Raises:
        InvalidFieldError: the text is not such a duration, is zero or is over ten years.
    """
    spelled = text.strip().lower()
    parts = _DURATION.findall(spelled)
    if not spelled or "".join(n + u for n, u in parts) != spelled:
        raise InvalidFieldError(
            field, f"{text[:40]!r} is not a duration such as 90d, 12h, 1w2d, 30m or 3600s"
        )
    duration = timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))
    if not timedelta(0) < duration <= MAX_DURATION:
        raise InvalidFieldError(field, "must be more than 0s and at most 3650d")
    return duration


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: its id, the secret (shown once, never stored) and the log position."""

    key_id: UUID
    name: str
    role: str
    secret: str
    expires_at: datetime | None
    position: int | None
    namespaces: tuple[str, ...] = (ALL_NAMESPACES,)


class KeyCommands(CommandsBase):
    """Issue and revoke API keys; each is an event with the authenticated actor."""

    # Randomness is an input: tests may give the application their own secrets.
    @staticmethod
    def new_key_secret() -> str:
        """A fresh key (tests may give the application their own)."""
        return new_key_secret()

    def create_api_key(
        self,
        name: str,
        role: str,
        ctx: CommandContext,
        expires_in: timedelta | None = None,
        namespaces: Sequence[str] = (ALL_NAMESPACES,),
    ) -> IssuedKey:
        """Issue a key and reserve its name in one save; the secret is returned only here.

        Raises:
            ApiKeyNameTakenError: a key had this name before.
            InvalidFieldError: the name, role or expiry is not acceptable.
        """
        if self._exists(ApiKeyName.id_for(name)):
            raise ApiKeyNameTakenError(name)
        secret = self.new_key_secret()
        expires_at = ctx.now + expires_in if expires_in is not None else None
        key = ApiKey.create(
            self._new_id(), name, role, key_digest(secret), expires_at, ctx, namespaces
        )
        index = ApiKeyName.create(name, key.id, ctx)
        try:
            recordings = self.save(key, index)
        except IntegrityError:
            raise ApiKeyNameTakenError(name) from None  # claimed concurrently
        position = recordings[-1].notification.id
        return IssuedKey(key.id, name, role, secret, expires_at, position, key.namespaces)

    def revoke_api_key(self, key_id: UUID, reason: str, ctx: CommandContext) -> int | None:
        """Revoke a key; returns the log position of the event.

        Raises:
            IllegalTransitionError: it was revoked before.
        """
        key = self.get_api_key(key_id)
        key.revoke(reason, ctx)
        recordings = self.save(key)
        return recordings[-1].notification.id if recordings else None

    def get_api_key(self, key_id: UUID) -> ApiKey:
        """Load a key from its events."""
        return self._get(key_id, ApiKey, "API key", None)

    def resolve_api_key_ref(self, ref: str) -> UUID:
        """The key an id or a name names, from the write side (never a view).

        Raises:
            NotFoundError: no key has that id or name.
        """
        key_id = parse_uuid(ref)
        if key_id is not None:
            self.get_api_key(key_id)
            return key_id
        try:
            index: ApiKeyName = self.repository.get(ApiKeyName.id_for(ref))
        except AggregateNotFoundError:
            raise NotFoundError("API key", ref) from None
        return index.key_id
