"""Makes the event store append-only: guard triggers on both stores, grants on PostgreSQL.

Each dialect does it its own way (adapters/<dialect>/event_tables.py); these are the calls
the CLI and the composition root make, whatever the store.
"""

from __future__ import annotations

from adapters.sql_store import LockDownError, StoreDatabase

__all__ = ["LockDownError", "ensure_append_only", "lock_down_role"]


def ensure_append_only(database: StoreDatabase) -> list[str]:
    """Install the guard triggers that are missing; returns the names created now."""
    return database.event_tables.ensure_append_only()


def lock_down_role(database: StoreDatabase, app_role: str, owner: str | None = None) -> str:
    """Give the store to `owner` and leave `app_role` only reads and appends; returns owner.

    Raises:
        LockDownError: the store has no roles (SQLite), or a role could undo the lock-down.
    """
    return database.event_tables.lock_down_role(app_role, owner)
