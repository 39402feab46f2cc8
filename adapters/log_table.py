"""The log_records table: shipped log lines written in batches, pruned by count and age."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from adapters.log_shipping import Line
from application.log_context import LOG_FIELDS
from projections.ports import Database

logger = logging.getLogger(__name__)

# Columns of their own; every other field of a line is kept in `extra` (JSON).
COLUMNS = (
    "time",
    "level",
    "level_no",
    "logger",
    "message",
    "process",
    "pid",
    "host",
    *LOG_FIELDS,  # the context's ids, in the order a line shows them
)
TEXT_COLUMNS = frozenset(COLUMNS) - {"time", "level_no", "pid", "attempt"}
MAX_TEXT = 10_000  # characters kept of a message (or any text field); a traceback fits
TOO_LARGE = '{"omitted": "the extra fields were too large"}'
PRUNE_EVERY_SECONDS = 60.0
INSERT = (
    f"INSERT INTO log_records ({', '.join(COLUMNS)}, extra) "
    f"VALUES ({', '.join(f'%({c})s' for c in COLUMNS)}, %(extra)s)"
)
PRUNE_OLD = "DELETE FROM log_records WHERE time < %(cutoff)s"
PRUNE_MANY = "DELETE FROM log_records WHERE id <= (SELECT MAX(id) FROM log_records) - %(keep)s"


class LogTable:
    """Writes shipped lines into log_records; every minute drops what retention lets go."""

    def __init__(
        self,
        database: Database,
        keep_records: int,
        keep_hours: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._keep_records, self._keep = keep_records, timedelta(hours=keep_hours)
        self._now, self._monotonic = now, monotonic
        self._pruned_at = float("-inf")

    def write(self, lines: list[Line]) -> None:
        """Insert the lines in one transaction (then prune, if it is time)."""
        if lines:
            with self._db.transaction() as tx:
                tx.executemany(INSERT, [row_of(line) for line in lines])
        if self._monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self.prune()

    def prune(self) -> None:
        """Delete the records older than the retention age and those beyond the count."""
        self._pruned_at = self._monotonic()
        with self._db.transaction() as tx:
            tx.execute(PRUNE_OLD, {"cutoff": self._now() - self._keep})
            tx.execute(PRUNE_MANY, {"keep": self._keep_records})


def row_of(line: Line) -> dict[str, Any]:
    """A shipped line as a row: the known fields in columns, the rest as JSON in `extra`."""
    row: dict[str, Any] = {}
    for column in COLUMNS:
        value = line.get(column)
        if column in TEXT_COLUMNS and value is not None:
            # PostgreSQL text holds no NUL: one such line would fail its whole batch.
            value = str(value)[:MAX_TEXT].replace("\x00", "\ufffd")
        row[column] = value
    row["time"] = _time(line.get("time"))
    row["level"] = str(row["level"] or "info").lower()
    row["level_no"] = _int(row["level_no"]) or level_number(row["level"])
    row["logger"] = row["logger"] or ""
    row["message"] = row["message"] or ""
    row["process"] = row["process"] or "unknown"
    row["pid"], row["attempt"] = _int(row["pid"]), _int(row["attempt"])
    row["extra"] = extra_json({k: v for k, v in line.items() if k not in COLUMNS})
    return row


def extra_json(extra: dict[str, Any]) -> str:
    """The other fields as JSON of at most MAX_TEXT characters: long strings are cut, never
    the JSON itself (it must stay readable)."""
    text = orjson.dumps(extra, default=str).decode()
    if len(text) <= MAX_TEXT:
        return text
    share = MAX_TEXT // (2 * len(extra))
    cut = {k: v[:share] if isinstance(v, str) else v for k, v in extra.items()}
    text = orjson.dumps(cut, default=str).decode()
    return text if len(text) <= MAX_TEXT else TOO_LARGE


def level_number(level: str) -> int:
    """The number of a level name (info for a name logging does not know)."""
    return logging.getLevelNamesMapping().get(level.upper(), logging.INFO)


def _time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return datetime.now(UTC)  # a line from elsewhere without a readable time


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
