"""Makes the event store append-only: guard triggers on both stores, grants on PostgreSQL."""

from __future__ import annotations

import re

from projections.ports import Database, Tx

# The eventsourcing 9.5.6 tables: events and snapshots (a snapshot edit would change loaded
# state without touching the log), plus our chain. SQLite names them whatever the app's name.
GUARDED_TABLES = {
    "postgres": ("scheduler_events", "scheduler_snapshots", "audit_chain"),
    "sqlite": ("stored_events", "stored_snapshots", "audit_chain"),
}
EVENTS_TABLE = {"postgres": "scheduler_events", "sqlite": "stored_events"}
REJECT_FUNCTION = "scheduler_reject_change()"  # created by migrations/postgres/0004
PG_TRIGGERS = (
    ("{t}_append_only", "BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW"),
    ("{t}_no_truncate", "BEFORE TRUNCATE ON {t} FOR EACH STATEMENT"),
)
SQLITE_TRIGGERS = (("{t}_no_update", "UPDATE"), ("{t}_no_delete", "DELETE"))
PG_TRIGGER_NAMES = "SELECT tgname FROM pg_trigger WHERE tgrelid = %(t)s::regclass"
PG_TABLE_EXISTS = "SELECT to_regclass(%(t)s) IS NOT NULL AS present"
SQLITE_TABLE_EXISTS = (
    "SELECT count(*) > 0 AS present FROM sqlite_master WHERE type = 'table' AND name = %(t)s"
)
ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
# LOCK TABLE ... IN EXCLUSIVE MODE, which the recorder takes on every save, needs UPDATE,
# DELETE or TRUNCATE before PostgreSQL 17, MAINTAIN from 17 (which changes no rows).
PG17 = 170_000


class LockDownError(RuntimeError):
    """The store cannot be locked down as asked; the message says why."""


def quote_ident(name: str) -> str:
    """A role name as a quoted SQL identifier (validated: roles come from the command line)."""
    if not ROLE_NAME.match(name):
        raise LockDownError(f"{name!r} is not a role name this tool accepts")
    return '"' + name.replace('"', '""') + '"'


def ensure_append_only(database: Database) -> list[str]:
    """Install the guard triggers that are missing; returns the names created now."""
    created: list[str] = []
    with database.transaction() as tx:
        for table in GUARDED_TABLES[database.dialect]:
            _require_table(tx, database.dialect, table)
            if database.dialect == "postgres":
                created += _ensure_pg_triggers(tx, table)
            else:
                created += _ensure_sqlite_triggers(tx, table)
    return created


def _require_table(tx: Tx, dialect: str, table: str) -> None:
    sql = PG_TABLE_EXISTS if dialect == "postgres" else SQLITE_TABLE_EXISTS
    row = tx.one(sql, {"t": table})
    if not row or not row["present"]:
        hint = "run `scheduler migrate`" if table == "audit_chain" else "start the scheduler once"
        raise LockDownError(f"table {table} does not exist yet: {hint} first")


def _ensure_pg_triggers(tx: Tx, table: str) -> list[str]:
    # Check first: after a lock-down the application role no longer owns the table, and
    # CREATE TRIGGER would fail for it even when the trigger already exists.
    existing = {row["tgname"] for row in tx.query(PG_TRIGGER_NAMES, {"t": table})}
    created = []
    for name_pattern, when in PG_TRIGGERS:
        name = name_pattern.format(t=table)
        if name not in existing:
            tx.execute(
                f"CREATE TRIGGER {name} {when.format(t=table)} EXECUTE FUNCTION {REJECT_FUNCTION}"
            )
            created.append(name)
    return created


def _ensure_sqlite_triggers(tx: Tx, table: str) -> list[str]:
    existing = {
        row["name"]
        for row in tx.query(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %(t)s",
            {"t": table},
        )
    }
    created = []
    for name_pattern, operation in SQLITE_TRIGGERS:
        name = name_pattern.format(t=table)
        if name not in existing:
            tx.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} is append-only: {operation} is not allowed'); END"
            )
            created.append(name)
    return created


def lock_down_role(database: Database, app_role: str, owner: str | None = None) -> str:
    """Give the store to `owner` and leave `app_role` only reads and appends; returns owner."""
    if database.dialect != "postgres":
        raise LockDownError("database roles exist only on PostgreSQL; SQLite gets triggers only")
    app = quote_ident(app_role)
    ensure_append_only(database)
    with database.transaction() as tx:
        owner = owner or _one_value(tx, "SELECT current_user")
        _check_roles(tx, app_role, owner)
        events = EVENTS_TABLE["postgres"]
        sequence = _one_value(tx, f"SELECT pg_get_serial_sequence('{events}', 'notification_id')")
        for table in GUARDED_TABLES["postgres"]:
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
        tx.execute(f"GRANT {lock_privilege} ON {events} TO {app}")
    return owner


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
