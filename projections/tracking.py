"""Projections' positions in `projection_tracking`: read, locked and advanced, one or many."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from projections.ports import Database, Tx

SELECT_POSITION = "SELECT position FROM projection_tracking WHERE projection = %(name)s"
SELECT_POSITIONS = "SELECT projection, position FROM projection_tracking"
INIT_POSITION = """
INSERT INTO projection_tracking (projection, position) VALUES (%(name)s, 0)
ON CONFLICT (projection) DO NOTHING
"""
# Compare-and-set: belt and braces behind the row lock taken at the start of the batch.
# RETURNING, because a pipelined transaction knows no row counts: no row back is a conflict.
ADVANCE_POSITION = """
UPDATE projection_tracking SET position = %(new)s, updated_at = %(at)s
WHERE projection = %(name)s AND position = %(old)s
RETURNING position
"""


class ProjectionConflictError(Exception):
    """Another runner of the same projection advanced the position first."""


def lock_position(tx: Tx, database: Database, name: str) -> int:
    """Lock a projection's tracking row for this transaction and return its position.

    Every writer of a projection's tables takes this lock first (runner batches and the
    rebuild's swap), so they queue on it and never deadlock on the tables.
    """
    sql = database.for_update(SELECT_POSITION)
    row = tx.one(sql, {"name": name})
    if row is None:
        tx.execute(INIT_POSITION, {"name": name})
        row = tx.one(sql, {"name": name})
    return int(row["position"]) if row else 0


def try_lock_position(tx: Tx, database: Database, name: str) -> int | None:
    """`lock_position`, or None at once while another transaction holds the row."""
    row = tx.one(database.for_update(SELECT_POSITION, skip_locked=True), {"name": name})
    if row is not None:
        return int(row["position"])
    if tx.one(SELECT_POSITION, {"name": name}) is not None:
        return None  # the row exists, so someone holds it
    return lock_position(tx, database, name)


def try_lock_positions(tx: Tx, database: Database, names: Sequence[str]) -> dict[str, int]:
    """`try_lock_position` for several projections in one statement: the rows it got.

    A projection left out is held by another transaction (a rebuild's switch). Rows that do
    not exist yet are created and locked one by one (only a projection's first batch).
    """
    where, params = _among(names)
    select = database.for_update(f"{SELECT_POSITIONS} WHERE {where}", skip_locked=True)
    rows = tx.query(select, params)
    locked = {row["projection"]: int(row["position"]) for row in rows}
    for name in (n for n in names if n not in locked):
        position = try_lock_position(tx, database, name)
        if position is not None:
            locked[name] = position
    return locked


def advance_positions(tx: Tx, names: Sequence[str], old: int, new: int, at: datetime) -> None:
    """Move every named projection from `old` to `new` in one statement.

    Raises:
        ProjectionConflictError: one of them no longer stood at `old`.
    """
    where, params = _among(names)
    rows = tx.query(
        f"UPDATE projection_tracking SET position = %(new)s, updated_at = %(at)s "
        f"WHERE {where} AND position = %(old)s RETURNING projection",
        {**params, "old": old, "new": new, "at": at},
    )
    missing = set(names) - {row["projection"] for row in rows}
    if missing:
        raise ProjectionConflictError(
            f"projection(s) {', '.join(sorted(missing))} advanced by another runner"
        )


def read_positions(database: Database) -> dict[str, int]:
    """Every projection's position (a projection without a row has none yet)."""
    return {r["projection"]: int(r["position"]) for r in database.query(SELECT_POSITIONS)}


def _among(names: Sequence[str]) -> tuple[str, dict[str, Any]]:
    params = {f"name_{index}": name for index, name in enumerate(names)}
    placeholders = ", ".join(f"%({key})s" for key in params) or "NULL"
    return f"projection IN ({placeholders})", params
