"""The `namespace_limits` read table: the namespaces created through the API and their limits."""

from __future__ import annotations

from typing import Any

from domain.namespace import DEFAULT_NAMESPACE
from domain.namespace_limits import Namespace
from projections.base import Projection, handles
from projections.ports import Database, Row, Tx
from projections.queries.rows import as_datetime

INSERT_NAMESPACE = """
INSERT INTO namespace_limits (name, max_concurrent_runs, trigger_rate_per_minute, created_at,
                        updated_at, position)
VALUES (%(name)s, %(max_concurrent_runs)s, %(trigger_rate_per_minute)s, %(at)s, %(at)s,
        %(position)s)
ON CONFLICT (name) DO NOTHING
"""
UPDATE_LIMITS = """
UPDATE namespace_limits SET max_concurrent_runs = %(max_concurrent_runs)s,
                      trigger_rate_per_minute = %(trigger_rate_per_minute)s,
                      updated_at = %(at)s, position = %(position)s
WHERE name = %(name)s
"""
SELECT_NAMESPACES = "SELECT * FROM namespace_limits ORDER BY name"


class NamespacesProjection(Projection):
    """Keeps the namespace_limits table (default has a row once its limits changed)."""

    name = "namespaces"
    tables = ("namespace_limits",)

    @handles(Namespace.Created)
    def namespace_created(self, event: Namespace.Created, position: int, tx: Tx) -> None:
        tx.execute(
            INSERT_NAMESPACE,
            {
                "name": event.name,
                "max_concurrent_runs": event.max_concurrent_runs,
                "trigger_rate_per_minute": event.trigger_rate_per_minute,
                "at": event.timestamp,
                "position": position,
            },
        )

    @handles(Namespace.LimitsChanged)
    def limits_changed(self, event: Namespace.LimitsChanged, position: int, tx: Tx) -> None:
        tx.execute(
            UPDATE_LIMITS,
            {
                "name": event.name,
                "max_concurrent_runs": event.max_concurrent_runs,
                "trigger_rate_per_minute": event.trigger_rate_per_minute,
                "at": event.timestamp,
                "position": position,
            },
        )


def namespace_resource(row: Row) -> dict[str, Any]:
    """A namespaces row as the API shows it."""
    return {
        "name": row["name"],
        "max_concurrent_runs": row["max_concurrent_runs"],
        "trigger_rate_per_minute": row["trigger_rate_per_minute"],
        "created_at": as_datetime(row["created_at"]),
        "updated_at": as_datetime(row["updated_at"]),
    }


def read_namespaces(database: Database) -> list[dict[str, Any]]:
    """Every namespace, by name; the default one first even without a row."""
    found = [namespace_resource(r) for r in database.query(SELECT_NAMESPACES)]
    if not any(n["name"] == DEFAULT_NAMESPACE for n in found):
        found.insert(0, _implicit_default())
    return sorted(found, key=lambda n: (n["name"] != DEFAULT_NAMESPACE, n["name"]))


def _implicit_default() -> dict[str, Any]:
    return {
        "name": DEFAULT_NAMESPACE,
        "max_concurrent_runs": None,
        "trigger_rate_per_minute": None,
        "created_at": None,
        "updated_at": None,
    }
