"""The quarantine table: SQL over the portable Tx, and a ledger for the in-memory consumers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from application.quarantine import HELD, RELEASED, RESOLVED, QuarantineEntry
from projections.ports import Database, Row, Tx
from projections.queries.rows import as_datetime

COLUMNS = """
consumer, aggregate_id, aggregate_type, position, topic, error, status, request,
requested_through, released_through, last_position, held_count, failures, first_failed_at,
last_failed_at, resolved_at, note
"""
# A held entry is refreshed (same aggregate failing again); a closed one is opened again.
RECORD = """
INSERT INTO quarantine (consumer, aggregate_id, aggregate_type, position, topic, error, status,
                        last_position, held_count, failures, first_failed_at, last_failed_at)
VALUES (%(consumer)s, %(aggregate_id)s, %(aggregate_type)s, %(position)s, %(topic)s, %(error)s,
        'held', %(position)s, 1, 1, %(at)s, %(at)s)
ON CONFLICT (consumer, aggregate_id) DO UPDATE SET
    position = CASE WHEN quarantine.status = 'held'
                    THEN CASE WHEN EXCLUDED.position < quarantine.position
                              THEN EXCLUDED.position ELSE quarantine.position END
                    ELSE EXCLUDED.position END,
    aggregate_type = EXCLUDED.aggregate_type, topic = EXCLUDED.topic, error = EXCLUDED.error,
    last_failed_at = EXCLUDED.last_failed_at, failures = quarantine.failures + 1,
    held_count = CASE WHEN quarantine.status = 'held' THEN quarantine.held_count ELSE 1 END,
    last_position = CASE WHEN COALESCE(quarantine.last_position, 0) > EXCLUDED.position
                         THEN quarantine.last_position ELSE EXCLUDED.position END,
    status = 'held', request = NULL, requested_through = NULL, resolved_at = NULL, note = NULL
"""
NOTE_HELD = """
UPDATE quarantine SET held_count = %(count)s,
       last_position = CASE WHEN COALESCE(last_position, 0) > %(last)s
                            THEN last_position ELSE %(last)s END
WHERE consumer = %(consumer)s AND aggregate_id = %(aggregate_id)s AND status = 'held'
"""
RESOLVE = """
UPDATE quarantine SET status = 'resolved', request = NULL, requested_through = NULL,
       resolved_at = %(at)s, note = %(note)s
WHERE consumer = %(consumer)s AND aggregate_id = %(aggregate_id)s
"""
RELEASE = """
UPDATE quarantine SET status = 'released', request = NULL, requested_through = NULL,
       released_through = CASE WHEN COALESCE(released_through, 0) > %(through)s
                               THEN released_through ELSE %(through)s END,
       resolved_at = %(at)s, note = %(note)s
WHERE consumer = %(consumer)s AND aggregate_id = %(aggregate_id)s
"""
REQUEST = """
UPDATE quarantine SET request = %(action)s, requested_through = %(through)s
WHERE aggregate_id = %(aggregate_id)s AND status = 'held'
"""
DELETE_HELD = "DELETE FROM quarantine WHERE consumer = %(consumer)s AND status = 'held'"


def entry_from_row(row: Row) -> QuarantineEntry:
    """A quarantine row as an entry."""
    return QuarantineEntry(
        consumer=row["consumer"],
        aggregate_id=str(row["aggregate_id"]),
        aggregate_type=row["aggregate_type"],
        position=int(row["position"]),
        topic=row["topic"],
        error=row["error"],
        first_failed_at=_time(row["first_failed_at"]),
        last_failed_at=_time(row["last_failed_at"]),
        status=row["status"],
        request=row["request"],
        requested_through=_int(row["requested_through"]),
        released_through=_int(row["released_through"]),
        last_position=_int(row["last_position"]),
        held_count=int(row["held_count"]),
        failures=int(row["failures"]),
        resolved_at=as_datetime(row["resolved_at"]),
        note=row["note"],
    )


def select_entries(
    tx: Tx,
    consumer: str | None = None,
    statuses: Sequence[str] | None = (HELD,),
    aggregate_ids: Sequence[str] | None = None,
    limit: int = 10_000,
) -> list[QuarantineEntry]:
    """Entries, newest failure first, filtered."""
    where, params = _filters(consumer, statuses, aggregate_ids)
    params["limit"] = limit
    rows = tx.query(
        f"SELECT {COLUMNS} FROM quarantine {where} "
        "ORDER BY last_failed_at DESC, consumer LIMIT %(limit)s",
        params,
    )
    return [entry_from_row(row) for row in rows]


def count_entries(tx: Tx, statuses: Sequence[str] = (HELD,)) -> dict[str, int]:
    """Entries per consumer with these statuses."""
    where, params = _filters(None, statuses, None)
    rows = tx.query(
        f"SELECT consumer, COUNT(*) AS n FROM quarantine {where} GROUP BY consumer",
        params,
    )
    return {row["consumer"]: int(row["n"]) for row in rows}


def record_entry(
    tx: Tx,
    consumer: str,
    aggregate_id: str,
    aggregate_type: str,
    position: int,
    topic: str,
    error: str,
    at: datetime,
) -> None:
    """Open or refresh the entry of an aggregate in a consumer."""
    tx.execute(
        RECORD,
        {
            "consumer": consumer,
            "aggregate_id": aggregate_id,
            "aggregate_type": aggregate_type,
            "position": position,
            "topic": topic,
            "error": error,
            "at": at,
        },
    )


def note_held(tx: Tx, consumer: str, aggregate_id: str, last: int, count: int) -> None:
    """Update how many events are held and the newest one."""
    tx.execute(
        NOTE_HELD,
        {"consumer": consumer, "aggregate_id": aggregate_id, "last": last, "count": count},
    )


def resolve_entry(tx: Tx, consumer: str, aggregate_id: str, at: datetime, note: str) -> None:
    """Close an entry as resolved."""
    tx.execute(
        RESOLVE, {"consumer": consumer, "aggregate_id": aggregate_id, "at": at, "note": note}
    )


def release_entry(tx: Tx, consumer: str, aggregate_id: str, through: int, at: datetime) -> None:
    """Close an entry as released through a position."""
    tx.execute(
        RELEASE,
        {
            "consumer": consumer,
            "aggregate_id": aggregate_id,
            "through": through,
            "at": at,
            "note": f"released through position {through}",
        },
    )


class TxQuarantineLedger:
    """The ledger port inside an open transaction (a projection's batch)."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def record(
        self,
        consumer: str,
        aggregate_id: str,
        aggregate_type: str,
        position: int,
        topic: str,
        error: str,
        at: datetime,
    ) -> None:
        """Open or refresh an entry."""
        record_entry(
            self._tx,
            consumer,
            aggregate_id,
            aggregate_type,
            position,
            topic,
            error,
            at,
        )

    def note_held(
        self, consumer: str, aggregate_id: str, last_position: int, held_count: int
    ) -> None:
        """Update the held counters."""
        note_held(self._tx, consumer, aggregate_id, last_position, held_count)

    def entries(
        self,
        consumer: str | None = None,
        statuses: Sequence[str] | None = (HELD,),
        aggregate_ids: Sequence[str] | None = None,
    ) -> list[QuarantineEntry]:
        """Entries, newest failure first."""
        return select_entries(self._tx, consumer, statuses, aggregate_ids)

    def resolve(self, consumer: str, aggregate_id: str, at: datetime, note: str) -> None:
        """Close as resolved."""
        resolve_entry(self._tx, consumer, aggregate_id, at, note)

    def release(self, consumer: str, aggregate_id: str, through: int, at: datetime) -> None:
        """Close as released."""
        release_entry(self._tx, consumer, aggregate_id, through, at)

    def request(self, aggregate_id: str, action: str, through: int, at: datetime) -> int:
        """Flag every held entry of the aggregate for a retry or a release."""
        return self._tx.execute(
            REQUEST, {"aggregate_id": aggregate_id, "action": action, "through": through}
        )


class SqlQuarantineLedger:
    """The quarantine table as the application's ledger port (one transaction per call)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def record(
        self,
        consumer: str,
        aggregate_id: str,
        aggregate_type: str,
        position: int,
        topic: str,
        error: str,
        at: datetime,
    ) -> None:
        """Open or refresh an entry."""
        with self._db.transaction() as tx:
            record_entry(
                tx,
                consumer,
                aggregate_id,
                aggregate_type,
                position,
                topic,
                error,
                at,
            )

    def note_held(
        self, consumer: str, aggregate_id: str, last_position: int, held_count: int
    ) -> None:
        """Update the held counters."""
        with self._db.transaction() as tx:
            note_held(tx, consumer, aggregate_id, last_position, held_count)

    def entries(
        self,
        consumer: str | None = None,
        statuses: Sequence[str] | None = (HELD,),
        aggregate_ids: Sequence[str] | None = None,
    ) -> list[QuarantineEntry]:
        """Entries, newest failure first."""
        with self._db.transaction() as tx:
            return select_entries(tx, consumer, statuses, aggregate_ids)

    def resolve(self, consumer: str, aggregate_id: str, at: datetime, note: str) -> None:
        """Close as resolved."""
        with self._db.transaction() as tx:
            resolve_entry(tx, consumer, aggregate_id, at, note)

    def release(self, consumer: str, aggregate_id: str, through: int, at: datetime) -> None:
        """Close as released."""
        with self._db.transaction() as tx:
            release_entry(tx, consumer, aggregate_id, through, at)

    def request(self, aggregate_id: str, action: str, through: int, at: datetime) -> int:
        """Flag every held entry of the aggregate for a retry or a release."""
        with self._db.transaction() as tx:
            return tx.execute(
                REQUEST, {"aggregate_id": aggregate_id, "action": action, "through": through}
            )


def _filters(
    consumer: str | None, statuses: Sequence[str] | None, aggregate_ids: Sequence[str] | None
) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if consumer is not None:
        clauses.append("consumer = %(consumer)s")
        params["consumer"] = consumer
    for name, values in (("status", statuses), ("aggregate_id", aggregate_ids)):
        if values is None:
            continue
        placeholders = []
        for index, value in enumerate(values):
            params[f"{name}_{index}"] = value
            placeholders.append(f"%({name}_{index})s")
        clauses.append(f"{name} IN ({', '.join(placeholders) or 'NULL'})")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _time(value: Any) -> datetime:
    moment = as_datetime(value)
    assert moment is not None  # NOT NULL columns
    return moment


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


__all__ = [
    "HELD",
    "RELEASED",
    "RESOLVED",
    "SqlQuarantineLedger",
    "count_entries",
    "note_held",
    "record_entry",
    "release_entry",
    "resolve_entry",
    "select_entries",
]
