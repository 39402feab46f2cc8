"""The ApiKey aggregate: a named credential with a role; only the hash of its secret is kept."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError
from domain.namespace import ALL_NAMESPACES, checked_namespaces
from domain.principal import ROLES

# The name is part of the actor (`key:NAME`) in every event the key causes: keep it plain.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class ApiKey(SchedulerAggregate):
    """One API key: created with a name, a role and an optional expiry; revoked for good."""

    TOPIC = "scheduler:ApiKey"

    class Created(SchedulerAggregate.Created):
        TOPIC = "scheduler:ApiKey.Created"
        name: str
        role: str
        key_hash: str  # sha256 of the secret (application/keys.py); the secret is never stored
        expires_at: datetime | None
        namespaces: list[str]  # where it may see and act; ["*"]: every namespace
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 scopes keys to namespaces: a key from before covers them all."""
            state.setdefault("namespaces", [ALL_NAMESPACES])

        def apply(self, aggregate: ApiKey) -> None:
            aggregate.namespaces = tuple(self.namespaces)
            aggregate.name = self.name
            aggregate.role = self.role
            aggregate.key_hash = self.key_hash
            aggregate.expires_at = self.expires_at
            aggregate.created_at = self.timestamp
            aggregate.revoked_at = None

    class Revoked(SchedulerAggregate.Event):
        TOPIC = "scheduler:ApiKey.Revoked"
        reason: str

        def apply(self, aggregate: ApiKey) -> None:
            aggregate.revoked_at = self.timestamp

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        name: str
        role: str
        key_hash: str
        expires_at: datetime | None
        namespaces: tuple[str, ...]
        created_at: datetime
        revoked_at: datetime | None

    @classmethod
    def create(
        cls,
        key_id: UUID,
        name: str,
        role: str,
        key_hash: str,
        expires_at: datetime | None,
        ctx: CommandContext,
        namespaces: Sequence[str] = (ALL_NAMESPACES,),
    ) -> Self:
        """Record a new key.

        Raises:
            InvalidFieldError: the name, the role or the expiry is not acceptable.
        """
        if not NAME_PATTERN.match(name):
            raise InvalidFieldError(
                "name",
                f"{name[:80]!r} is not a key name: 1 to 64 letters, digits or _ . @ -,"
                " starting with a letter or digit",
            )
        if role not in ROLES:
            raise InvalidFieldError("role", f"{role[:40]!r} is not one of {', '.join(ROLES)}")
        if expires_at is not None and expires_at <= ctx.now:
            raise InvalidFieldError("expires_in", "the key would expire before it is created")
        scope = checked_namespaces(namespaces)
        return cls._create_with(
            cls.Created,
            key_id,
            ctx,
            name=name,
            role=role,
            key_hash=key_hash,
            expires_at=expires_at,
            namespaces=scope,
        )

    def revoke(self, reason: str, ctx: CommandContext) -> None:
        """Revoke the key: every API process refuses it from then on.

        Raises:
            IllegalTransitionError: the key was revoked before.
        """
        if self.revoked_at is not None:
            raise IllegalTransitionError(f"API key {self.name!r}", "revoked", "revoke it again")
        self._record(self.Revoked, ctx, reason=reason)
