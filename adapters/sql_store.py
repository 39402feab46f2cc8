"""What adapters need of a store's database beyond the read tables' port, in any dialect."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from uuid import UUID

from projections.ports import Database

# Every log consumer's position: the projections' tracking rows and the running dispatchers.
CONSUMER_FLOOR = (
    "SELECT (SELECT min(position) FROM projection_tracking) AS projections, "
    "(SELECT min(position) FROM dispatcher_status WHERE stopped_at IS NULL) AS dispatchers"
)
MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"


class LockDownError(RuntimeError):
    """The store cannot be locked down as asked; the message says why."""


def missing_table(table: str) -> LockDownError:
    """The error for a guarded table that does not exist yet, saying what creates it."""
    hint = "run `scheduler migrate`" if table == "audit_chain" else "start the scheduler once"
    return LockDownError(f"table {table} does not exist yet: {hint} first")


@dataclass(frozen=True)
class Migrations:
    """A dialect's forward-only SQL files, and how concurrent migrators are kept apart."""

    directory: Path
    lock: str | None = None  # run first in the migrating transaction, so migrators queue

    def files(self) -> list[Path]:
        """The files in the order they apply."""
        return sorted(self.directory.glob("*.sql"))


class EventTables(Protocol):
    """The event store's own tables (events, snapshots) as one dialect keeps them."""

    roles: bool  # whether the store has database roles to lock down

    def positions(self, aggregate_id: UUID) -> dict[int, int]:
        """Aggregate version -> log position, for every stored event of the aggregate."""
        ...

    def ensure_append_only(self) -> list[str]:
        """Install the guard triggers that are missing; returns the names created now."""
        ...

    def lock_down_role(self, app_role: str, owner: str | None = None) -> str:
        """Give the store to `owner`, leave `app_role` reads and appends; returns the owner.

        Raises:
            LockDownError: the store has no roles, or a role could undo the lock-down.
        """
        ...


class StoreDatabase(Database, Protocol):
    """A Database adapter: the read tables, and the event store in the same database."""

    migrations: Migrations

    @property
    def event_tables(self) -> EventTables:
        """The event store's tables in this database."""
        ...


def consumer_floor(database: Database) -> int:
    """The lowest log position every projection and running dispatcher has passed."""
    row = database.one(CONSUMER_FLOOR) or {}
    values = [int(v) for v in (row.get("projections"), row.get("dispatchers")) if v is not None]
    return min(values, default=0)
