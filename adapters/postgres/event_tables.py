"""The eventsourcing tables on PostgreSQL: log positions, append-only triggers, role lock-down."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from uuid import UUID

from adapters.sql_store import LockDownError, missing_table
from projections.ports import Tx

if TYPE_CHECKING:
    from adapters.postgres.database import PostgresDatabase

EVENTS_TABLE = "scheduler_events"  # eventsourcing names it after the application
# Events and snapshots (a snapshot edit would change loaded state without touching the log),
# plus our chain.
GUARDED_TABLES = (EVENTS_TABLE, "scheduler_snapshots", "audit_chain")
POSITIONS = (
    "SELECT originator_version AS version, notification_id AS position "
    f"FROM {EVENTS_TABLE} WHERE originator_id = %(id)s"
)
REJECT_FUNCTION = "scheduler_reject_change()"  # created by migrations/postgres/0004
TRIGGERS = (
    ("{t}_append_only", "BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW"),
    ("{t}_no_truncate", "BEFORE TRUNCATE ON {t} FOR EACH STATEMENT"),
)
TRIGGER_NAMES = "SELECT tgname FROM pg_trigger WHERE tgrelid = %(t)s::regclass"
TABLE_EXISTS = "SELECT to_regclass(%(t)s) IS NOT NULL AS present"
ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
# LOCK TABLE ... IN EXCLUSIVE MODE, which the recorder takes on every save, needs UPDATE,
# DELETE or TRUNCATE before PostgreSQL 17, MAINTAIN from 17 (which changes no rows).
PG17 = 170_000


def quote_ident(name: str) -> str:
    """A role name as a quoted SQL identifier (validated: roles come from the command line)."""
    if not ROLE_NAME.match(name):
        raise LockDownError(f"{name!r} is not a role name this tool accepts")
    return '"' + name.replace('"', '""') + '"'


class PostgresEventTables:
    """`scheduler_events` and its neighbours, guarded by triggers and, if asked, by grants."""

    roles = True

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def positions(self, aggregate_id: UUID) -> dict[int, int]:
        """From the notification_id column."""
        rows = self._database.query(POSITIONS, {"id": aggregate_id})
        return {int(row["version"]): int(row["position"]) for row in rows}

    def ensure_append_only(self) -> list[str]:
        """BEFORE UPDATE OR DELETE and BEFORE TRUNCATE triggers on each guarded table."""
        created: list[str] = []
        with self._database.transaction() as tx:
            for table in GUARDED_TABLES:
                _require_table(tx, table)
                created += _ensure_triggers(tx, table)
        return created

    def lock_down_role(self, app_role: str, owner: str | None = None) -> str:
        """Owner, grants and the lock privilege the recorder needs; the triggers first."""
        app = quote_ident(app_role)
        self.ensure_append_only()
        with self._database.transaction() as tx:
            owner = owner or _one_value(tx, "SELECT current_user")
            _check_roles(tx, app_role, owner)
            sequence = _one_value(
                tx, f"SELECT pg_get_serial_sequence('{EVENTS_TABLE}', 'notification_id')"
            )
            for table in GUARDED_TABLES:
                # An owner can disable or drop the triggers: the application must not be one.
                tx.execute(f"ALTER TABLE {table} OWNER TO {quote_ident(owner)}")
                tx.execute(f"REVOKE ALL ON {table} FROM PUBLIC, {app}")
                tx.execute(f"GRANT SELECT, INSERT ON {table} TO {app}")
            tx.execute(f"ALTER FUNCTION {REJECT_FUNCTION} OWNER TO {quote_ident(owner)}")
            tx.execute(f"REVOKE ALL ON SEQUENCE {sequence} FROM PUBLIC, {app}")
            tx.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {app}")
            version = int(_one_value(tx, "SELECT current_setting('server_version_num')"))
            lock_privilege = "MAINTAIN" if version >= PG17 else "TRUNCATE"
            # The BEFORE TRUNCATE trigger rejects the TRUNCATE itself; only the lock is wanted.
            tx.execute(f"GRANT {lock_privilege} ON {EVENTS_TABLE} TO {app}")
        return owner


def _require_table(tx: Tx, table: str) -> None:
    row = tx.one(TABLE_EXISTS, {"t": table})
    if not row or not row["present"]:
        raise missing_table(table)


def _ensure_triggers(tx: Tx, table: str) -> list[str]:
    # Check first: after a lock-down the application role no longer owns the table, and
    # CREATE TRIGGER would fail for it even when the trigger already exists.
    existing = {row["tgname"] for row in tx.query(TRIGGER_NAMES, {"t": table})}
    created = []
    for name_pattern, when in TRIGGERS:
        name = name_pattern.format(t=table)
        if name not in existing:
            tx.execute(
                f"CREATE TRIGGER {name} {when.format(t=table)} EXECUTE FUNCTION {REJECT_FUNCTION}"
            )
            created.append(name)
    return created


def _one_value(tx: Tx, sql: str) -> str:
    row = tx.one(f"{sql} AS value") or {}
    return str(row["value"])


def _check_roles(tx: Tx, app_role: str, owner: str) -> None:
    row = tx.one(
        "SELECT rolsuper, pg_has_role(%(app)s, %(owner)s, 'USAGE') AS inherits "
        "FROM pg_roles WHERE rolname = %(app)s",
        {"app": app_role, "owner": owner},
    )
    if row is None:
        raise LockDownError(f"role {app_role!r} does not exist")
    if row["rolsuper"]:
        raise LockDownError(f"role {app_role!r} is a superuser: it bypasses every grant")
    if app_role == owner or row["inherits"]:
        raise LockDownError(
            f"role {app_role!r} is or inherits the owner {owner!r}: an owner can drop the "
            "triggers; run this as another role or pass --owner"
        )
