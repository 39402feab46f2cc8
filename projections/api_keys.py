"""The `api_keys` read table: every key's name, role, hash, expiry and revocation.

API processes authenticate against it (adapters/key_directory.py); `keys list` and
GET /api/keys read it. `api_key_usage` beside it is bookkeeping, not part of the projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.api_key import ApiKey
from domain.namespace import ALL_NAMESPACES
from projections.base import Projection, from_json, handles, to_json
from projections.ports import Database, Row, Tx
from projections.queries.rows import as_datetime

INSERT_KEY = """
INSERT INTO api_keys (id, name, role, key_hash, created_at, created_by, expires_at, position,
                      namespaces)
VALUES (%(id)s, %(name)s, %(role)s, %(key_hash)s, %(at)s, %(actor)s, %(expires_at)s,
        %(position)s, %(namespaces)s)
ON CONFLICT (id) DO NOTHING
"""
REVOKE_KEY = """
UPDATE api_keys SET revoked_at = %(at)s, revoked_by = %(actor)s, position = %(position)s
WHERE id = %(id)s AND revoked_at IS NULL
"""
SELECT_KEYS = """
SELECT k.id, k.name, k.role, k.key_hash, k.created_at, k.created_by, k.expires_at,
       k.revoked_at, k.revoked_by, u.last_used_at, k.namespaces
FROM api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id
"""


class ApiKeysProjection(Projection):
    """Keeps the api_keys table."""

    name = "api_keys"
    tables = ("api_keys",)

    @handles(ApiKey.Created)
    def key_created(self, event: ApiKey.Created, position: int, tx: Tx) -> None:
        tx.execute(
            INSERT_KEY,
            {
                "id": event.originator_id,
                "name": event.name,
                "role": event.role,
                "key_hash": event.key_hash,
                "at": event.timestamp,
                "actor": _actor(event),
                "expires_at": event.expires_at,
                "position": position,
                "namespaces": to_json(event.namespaces),
            },
        )

    @handles(ApiKey.Revoked)
    def key_revoked(self, event: ApiKey.Revoked, position: int, tx: Tx) -> None:
        tx.execute(
            REVOKE_KEY,
            {
                "id": event.originator_id,
                "at": event.timestamp,
                "actor": _actor(event),
                "position": position,
            },
        )


def _actor(event: Any) -> str:
    return str((getattr(event, "metadata", None) or {}).get("actor") or "unknown")


@dataclass(frozen=True)
class KeyRow:
    """One key as the read table has it (never the secret: only its hash)."""

    id: UUID
    name: str
    role: str
    key_hash: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None
    namespaces: tuple[str, ...] = (ALL_NAMESPACES,)  # ("*",): every namespace

    def status(self, now: datetime) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def public(self, now: datetime) -> dict[str, Any]:
        """The key as the API and the CLI show it: no secret, no hash."""
        return {
            "id": str(self.id),
            "name": self.name,
            "role": self.role,
            "status": self.status(now),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
            "last_used_at": self.last_used_at,
            "namespaces": list(self.namespaces),
        }


def read_keys(database: Database) -> list[KeyRow]:
    """Every key in the table, oldest first."""
    return [_row(r) for r in database.query(SELECT_KEYS + " ORDER BY k.created_at, k.name")]


def _row(row: Row) -> KeyRow:
    created = as_datetime(row["created_at"])
    assert created is not None
    return KeyRow(
        id=UUID(str(row["id"])),
        name=row["name"],
        role=row["role"],
        key_hash=row["key_hash"],
        created_at=created,
        created_by=row["created_by"],
        expires_at=as_datetime(row["expires_at"]),
        revoked_at=as_datetime(row["revoked_at"]),
        revoked_by=row["revoked_by"],
        last_used_at=as_datetime(row["last_used_at"]),
        namespaces=tuple(from_json(row["namespaces"]) or [ALL_NAMESPACES]),
    )
