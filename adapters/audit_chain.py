"""The audit chain's table (migrations/*/0004_audit_chain.sql) behind the `ChainStore` port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.database_errors import DUPLICATE_KEY
from application.audit import ChainLink
from application.ports import Clock
from projections.ports import Database, Row

COLUMNS = "position, previous_position, event_digest, hash"
HEAD = f"SELECT {COLUMNS} FROM audit_chain ORDER BY position DESC LIMIT 1"
LAST_BEFORE = (
    f"SELECT {COLUMNS} FROM audit_chain WHERE position < %(position)s "
    "ORDER BY position DESC LIMIT 1"
)
LINKS = (
    f"SELECT {COLUMNS} FROM audit_chain WHERE position > %(after)s AND position <= %(until)s "
    "ORDER BY position LIMIT %(limit)s"
)
APPEND = (
    "INSERT INTO audit_chain (position, previous_position, event_digest, hash, chained_at) "
    "VALUES (%(position)s, %(previous_position)s, %(event_digest)s, %(hash)s, %(at)s)"
)
# Only on a broken chain, to tell a moved event from an edited one: a scan is acceptable.
BY_DIGEST = (
    "SELECT position FROM audit_chain WHERE event_digest = %(digest)s ORDER BY position LIMIT 1"
)


class MissingChainTableError(RuntimeError):
    """The audit_chain table does not exist: the migrations have not run."""


def _link(row: Row) -> ChainLink:
    return ChainLink(
        position=int(row["position"]),
        previous_position=int(row["previous_position"]),
        event_digest=bytes(row["event_digest"]),
        hash=bytes(row["hash"]),
    )


class SqlChainStore:
    """The chain in the read-table database (SQLite file or PostgreSQL)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def check_table(self) -> None:
        """Raise MissingChainTableError unless the migrations created audit_chain."""
        if not self._database.has_table("audit_chain"):
            raise MissingChainTableError(
                "the audit_chain table is missing: run `scheduler migrate` first"
            )

    def head(self) -> ChainLink | None:
        """The newest link, or None for an empty chain."""
        row = self._database.one(HEAD)
        return _link(row) if row else None

    def last_before(self, position: int) -> ChainLink | None:
        """The newest link below a position."""
        row = self._database.one(LAST_BEFORE, {"position": position})
        return _link(row) if row else None

    def links(self, after: int, until: int, limit: int) -> list[ChainLink]:
        """Up to `limit` links with after < position <= until, in order."""
        rows = self._database.query(LINKS, {"after": after, "until": until, "limit": limit})
        return [_link(row) for row in rows]

    def append(self, expected_head: int, links: Sequence[ChainLink], clock: Clock) -> bool:
        """Append links in one transaction if the head is still `expected_head`."""
        at = clock.now()
        rows: list[dict[str, Any]] = [
            {
                "position": link.position,
                "previous_position": link.previous_position,
                "event_digest": link.event_digest,
                "hash": link.hash,
                "at": at,
            }
            for link in links
        ]
        try:
            with self._database.transaction() as tx:
                # Compare-and-set on the head: two followers never interleave their links.
                head = tx.one("SELECT max(position) AS position FROM audit_chain")
                if int((head or {}).get("position") or 0) != expected_head:
                    return False
                tx.executemany(APPEND, rows)
        except DUPLICATE_KEY:
            return False  # another follower committed the same positions first
        return True

    def position_of_digest(self, digest: bytes) -> int | None:
        """The first chained position whose event had this digest."""
        row = self._database.one(BY_DIGEST, {"digest": digest})
        return int(row["position"]) if row else None
