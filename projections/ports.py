"""What projections need from a database: a transaction that runs portable SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Mapping[str, Any] | None
Row = dict[str, Any]


class Tx(Protocol):
    """A transaction: SQL uses %(name)s placeholders in both SQLite and PostgreSQL."""

    def execute(self, sql: str, params: Params = None) -> int: ...

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def query(self, sql: str, params: Params = None) -> list[Row]: ...

    def one(self, sql: str, params: Params = None) -> Row | None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an error inside rolls back only what it did."""
        ...


class EventLog(Protocol):
    """The ordered log of every event, read by position."""

    def read_log(self, after: int, limit: int) -> list[tuple[int, Any]]: ...

    def head_position(self) -> int: ...


class Database(Protocol):
    """Where read tables live: portable SQL, plus the little each dialect writes its own way."""

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def pipelined(self) -> AbstractContextManager[Tx]:
        """A transaction whose writes go out without waiting for each answer.

        A failed statement surfaces at the next read, savepoint or the commit, and fails the
        transaction; `execute` may return -1 (row counts unknown until then).
        """
        ...

    def query(self, sql: str, params: Params = None) -> list[Row]: ...

    def one(self, sql: str, params: Params = None) -> Row | None: ...

    def close(self) -> None: ...

    def is_outage(self, error: BaseException) -> bool:
        """Whether an error means the database (not the data of one event) failed."""
        ...

    def for_update(self, select: str, *, skip_locked: bool = False) -> str:
        """`select` so that it locks the rows it reads until the transaction ends.

        With `skip_locked` a row another transaction holds is left out at once instead of
        waited for. Where a write transaction already excludes every other writer (SQLite's
        BEGIN IMMEDIATE), `select` as it is.
        """
        ...

    def has_table(self, name: str) -> bool:
        """Whether the table exists (in the current schema)."""
        ...


class Lease(Protocol):
    """The right to run a projection, held by one process at a time."""

    def acquire(self) -> bool:
        """Take it or confirm it is still held; False while another process holds it."""
        ...

    def release(self) -> None:
        """Give it up."""
        ...
