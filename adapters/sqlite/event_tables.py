"""The eventsourcing tables on SQLite: log positions (rowids) and append-only triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from adapters.sql_store import LockDownError, missing_table
from projections.ports import Tx

if TYPE_CHECKING:
    from adapters.sqlite.database import SqliteDatabase

# eventsourcing 9.5.6 names SQLite's tables alike whatever the application's name.
EVENTS_TABLE = "stored_events"
GUARDED_TABLES = (EVENTS_TABLE, "stored_snapshots", "audit_chain")
# The log position is the rowid, and ids are stored as hex.
POSITIONS = (
    "SELECT originator_version AS version, rowid AS position "
    f"FROM {EVENTS_TABLE} WHERE originator_id = %(id)s"
)
TRIGGERS = (("{t}_no_update", "UPDATE"), ("{t}_no_delete", "DELETE"))
TRIGGER_NAMES = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %(t)s"
TABLE_EXISTS = (
    "SELECT count(*) > 0 AS present FROM sqlite_master WHERE type = 'table' AND name = %(t)s"
)


class SqliteEventTables:
    """`stored_events` and its neighbours, guarded by triggers (SQLite has no roles)."""

    roles = False

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def positions(self, aggregate_id: UUID) -> dict[int, int]:
        """From the rowid."""
        rows = self._database.query(POSITIONS, {"id": aggregate_id.hex})
        return {int(row["version"]): int(row["position"]) for row in rows}

    def ensure_append_only(self) -> list[str]:
        """BEFORE UPDATE and BEFORE DELETE triggers that abort, on each guarded table."""
        created: list[str] = []
        with self._database.transaction() as tx:
            for table in GUARDED_TABLES:
                _require_table(tx, table)
                created += _ensure_triggers(tx, table)
        return created

    def lock_down_role(self, app_role: str, owner: str | None = None) -> str:
        """Refused: there are no roles to lock down.

        Raises:
            LockDownError: always.
        """
        raise LockDownError("database roles exist only on PostgreSQL; SQLite gets triggers only")


def _require_table(tx: Tx, table: str) -> None:
    row = tx.one(TABLE_EXISTS, {"t": table})
    if not row or not row["present"]:
        raise missing_table(table)


def _ensure_triggers(tx: Tx, table: str) -> list[str]:
    existing = {row["name"] for row in tx.query(TRIGGER_NAMES, {"t": table})}
    created = []
    for name_pattern, operation in TRIGGERS:
        name = name_pattern.format(t=table)
        if name not in existing:
            tx.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} is append-only: {operation} is not allowed'); END"
            )
            created.append(name)
    return created
