"""`scheduler_events` partitioned by log position, and archived rows removed by detaching.

PostgreSQL has no unique key across partitions unless it holds the partition key, so each
partition keeps its own unique (originator_id, originator_version) index and a BEFORE INSERT
trigger refuses a version that another partition holds, with the unique-violation code the
library turns into its IntegrityError. The recorder's LOCK TABLE ... EXCLUSIVE on every save
locks every partition too, so the check cannot race. No event row is ever updated or deleted:
removal copies the rows that stay into a new table, detaches the old partitions and attaches
the copy for the same range (docs/retention.md).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from uuid import UUID

from adapters.postgres.event_tables import EVENTS_TABLE, REJECT_FUNCTION
from adapters.sql_store import consumer_floor
from application.archive.export import ArchiveError
from application.archive.ports import Removal
from projections.ports import Tx

if TYPE_CHECKING:
    from adapters.postgres.database import PostgresDatabase

DEFAULT_PARTITION = f"{EVENTS_TABLE}_default"
UNIQUE_FUNCTION = "scheduler_unique_event_version()"
SPARE_PARTITIONS = 2  # ranges kept ahead of the head, so the DEFAULT partition stays empty
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '30s'"
# The body stays on one line, like the migrations' functions.
CREATE_UNIQUE_FUNCTION = (
    f"CREATE OR REPLACE FUNCTION {UNIQUE_FUNCTION} RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN IF EXISTS (SELECT 1 FROM {EVENTS_TABLE} WHERE originator_id = NEW.originator_id "
    "AND originator_version = NEW.originator_version) THEN RAISE EXCEPTION "
    "'duplicate key value violates unique constraint: (originator_id, originator_version)=(%, %)"
    "', NEW.originator_id, NEW.originator_version USING ERRCODE = 'unique_violation'; END IF; "
    "RETURN NEW; END $$"
)
KIND = "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%(t)s)"
PARTITIONS = (
    "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound "
    "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = to_regclass(%(t)s)"
)
BOUND = re.compile(r"FROM \((MINVALUE|'?\d+'?)\) TO \((MAXVALUE|'?\d+'?)\)")
PARENT_TRIGGERS = (
    (f"{EVENTS_TABLE}_unique_version", "BEFORE INSERT", "FOR EACH ROW", UNIQUE_FUNCTION),
    (f"{EVENTS_TABLE}_append_only", "BEFORE UPDATE OR DELETE", "FOR EACH ROW", REJECT_FUNCTION),
    (f"{EVENTS_TABLE}_no_truncate", "BEFORE TRUNCATE", "FOR EACH STATEMENT", REJECT_FUNCTION),
)
TRIGGER_NAMES = "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%(t)s)"


def _bounds(bound: str) -> tuple[int | None, int | None] | None:
    match = BOUND.search(bound)
    if match is None:
        return None  # the DEFAULT partition
    low, high = (value.strip("'") for value in match.groups())
    return (None if low == "MINVALUE" else int(low), None if high == "MAXVALUE" else int(high))


class PostgresLiveStore:
    """The partitioned event table: its ranges, its consumers' floor, removal by detaching."""

    removes = True

    def __init__(self, database: PostgresDatabase, partition_events: int) -> None:
        self._database = database
        self._size = partition_events

    def ensure_partitioned(self) -> list[str]:
        """Partition the table (a plain one becomes the first partition); spares ahead.

        Returns what it did, one line a change.
        """
        done: list[str] = []
        with self._database.transaction() as tx:
            tx.execute(LOCK_TIMEOUT)
            kind = tx.one(KIND, {"t": EVENTS_TABLE})
            if kind is None:
                raise ArchiveError(f"{EVENTS_TABLE} does not exist yet: start the scheduler once")
            tx.execute(CREATE_UNIQUE_FUNCTION)
            if kind["relkind"] == "r":
                done.append(self._convert(tx))
            done += _ensure_parent_triggers(tx)
            done += self._ensure_spares(tx)
        return done

    def keep_ahead(self) -> list[str]:
        """Spare ranges ahead of the head, if the table is partitioned (else nothing)."""
        with self._database.transaction() as tx:
            tx.execute(LOCK_TIMEOUT)
            kind = tx.one(KIND, {"t": EVENTS_TABLE})
            return self._ensure_spares(tx) if kind and kind["relkind"] == "p" else []

    def _convert(self, tx: Tx) -> str:
        tx.execute(f"LOCK TABLE {EVENTS_TABLE} IN ACCESS EXCLUSIVE MODE")
        head = tx.one(f"SELECT coalesce(max(notification_id), 0) AS head FROM {EVENTS_TABLE}")
        bound = (int((head or {})["head"]) // self._size + 1) * self._size
        first = f"{EVENTS_TABLE}_p0"
        tx.execute(f"ALTER TABLE {EVENTS_TABLE} RENAME TO {first}")
        for old in (f"{EVENTS_TABLE}_pkey", f"{EVENTS_TABLE}_notification_id_idx"):
            tx.execute(f"ALTER INDEX IF EXISTS {old} RENAME TO {first}{old[len(EVENTS_TABLE) :]}")
        for name, *_ in PARENT_TRIGGERS:
            if tx.one(
                "SELECT 1 AS found FROM pg_trigger WHERE tgname = %(n)s "
                "AND tgrelid = to_regclass(%(t)s)",
                {"n": name, "t": first},
            ):
                suffix = name[len(EVENTS_TABLE) :]
                tx.execute(f"ALTER TRIGGER {name} ON {first} RENAME TO {first}{suffix}")
        # LIKE copies the library's columns exactly: types, NOT NULL, the id sequence default.
        tx.execute(
            f"CREATE TABLE {EVENTS_TABLE} (LIKE {first} INCLUDING DEFAULTS) "
            "PARTITION BY RANGE (notification_id)"
        )
        tx.execute(
            f"ALTER SEQUENCE {EVENTS_TABLE}_notification_id_seq "
            f"OWNED BY {EVENTS_TABLE}.notification_id"
        )
        # The library's own index, on the parent: the first partition's matching one attaches.
        tx.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {EVENTS_TABLE}_notification_id_idx "
            f"ON {EVENTS_TABLE} (notification_id)"
        )
        tx.execute(
            f"ALTER TABLE {EVENTS_TABLE} ATTACH PARTITION {first} "
            f"FOR VALUES FROM (MINVALUE) TO ({bound})"
        )
        _create_default(tx)
        _guard_partition(tx, first)  # its old guard (renamed) may be there already
        return f"{EVENTS_TABLE} partitioned: positions below {bound} in {first}"

    def _ensure_spares(self, tx: Tx) -> list[str]:
        ranges = self._ranges(tx)
        top = max((high for _name, _low, high in ranges if high is not None), default=0)
        overflow = _default_top(tx)  # rows the DEFAULT took when the spares fell behind
        if overflow >= top:  # a range may not cover them: the next one starts just above
            top = overflow + 1
        head = tx.one(f"SELECT coalesce(max(notification_id), 0) AS head FROM {EVENTS_TABLE}")
        wanted = (int((head or {})["head"]) // self._size + 1 + SPARE_PARTITIONS) * self._size
        created = []
        while top < wanted:
            upper = (top // self._size + 1) * self._size  # bounds stay multiples of the size
            name = f"{EVENTS_TABLE}_p{top}"
            tx.execute(
                f"CREATE TABLE {name} PARTITION OF {EVENTS_TABLE} "
                f"FOR VALUES FROM ({top}) TO ({upper})"
            )
            tx.execute(f"CREATE UNIQUE INDEX ON {name} (originator_id, originator_version)")
            _guard_partition(tx, name)
            created.append(f"partition {name} for positions {top}..{upper - 1}")
            top = upper
        return created

    def _ranges(self, tx: Tx) -> list[tuple[str, int | None, int | None]]:
        found = []
        for row in tx.query(PARTITIONS, {"t": EVENTS_TABLE}):
            bounds = _bounds(str(row["bound"]))
            if bounds is not None:
                found.append((str(row["name"]), *bounds))
        return sorted(found, key=lambda r: (r[1] is not None, r[1] or 0))

    def partitions(self) -> list[dict[str, object]]:
        """Each partition with its range and size, lowest first."""
        with self._database.transaction() as tx:
            return [
                {"name": name, "from": low, "to": high, "bytes": _size(tx, name)}
                for name, low, high in self._ranges(tx)
            ]

    def horizon_at_or_below(self, position: int) -> int:
        """The highest partition bound at or below `position`."""
        with self._database.transaction() as tx:
            bounds = [high for _n, _l, high in self._ranges(tx) if high is not None]
        return max((b for b in bounds if b <= position), default=0)

    def consumer_floor(self) -> int:
        """The lowest position of the projections and the running dispatchers."""
        return consumer_floor(self._database)

    def live_bytes(self) -> int | None:
        """pg_total_relation_size over every partition."""
        with self._database.transaction() as tx:
            names = [name for name, _l, _h in self._ranges(tx)] + [DEFAULT_PARTITION]
            return sum(_size(tx, name) for name in names)

    def remove_archived(self, horizon: int, ids: set[UUID], keep: bool) -> Removal:
        """Copy what stays below `horizon` into one new partition; detach the old ones.

        Raises:
            ArchiveError: the table is not partitioned, or rows sit in the DEFAULT partition.
        """
        with self._database.transaction() as tx:
            tx.execute(LOCK_TIMEOUT)
            kind = tx.one(KIND, {"t": EVENTS_TABLE})
            if kind is None or kind["relkind"] != "p":
                raise ArchiveError(
                    f"{EVENTS_TABLE} is not partitioned: set [retention] enabled = true and "
                    "restart once (docs/retention.md)"
                )
            tx.execute(f"LOCK TABLE {EVENTS_TABLE} IN ACCESS EXCLUSIVE MODE")
            old = [n for n, _low, high in self._ranges(tx) if high and high <= horizon]
            overflow = _default_top(tx)
            if overflow >= horizon:
                raise ArchiveError(
                    f"{DEFAULT_PARTITION} holds positions up to {overflow}, at or above the "
                    f"horizon {horizon}: export again once the consumers pass it"
                )
            if overflow:  # the spares fell behind once: those rows are copied like the rest
                old.append(DEFAULT_PARTITION)
            if not old:
                return Removal(horizon, 0, 0, ())
            removal = _replace_below(tx, horizon, ids, old, keep)
            if overflow:
                _create_default(tx)
            return removal


def _replace_below(tx: Tx, horizon: int, ids: set[UUID], old: list[str], keep: bool) -> Removal:
    tx.execute("CREATE TEMP TABLE archived_ids (id uuid PRIMARY KEY) ON COMMIT DROP")
    tx.execute("INSERT INTO archived_ids SELECT unnest(%(ids)s::uuid[])", {"ids": list(ids)})
    # An aggregate that gained an event at or after the horizon since the export stays whole.
    tx.execute(
        f"DELETE FROM archived_ids a WHERE EXISTS (SELECT 1 FROM {EVENTS_TABLE} e "
        "WHERE e.originator_id = a.id AND e.notification_id >= %(h)s)",
        {"h": horizon},
    )
    total = tx.one(
        f"SELECT count(*) AS n FROM {EVENTS_TABLE} WHERE notification_id < %(h)s", {"h": horizon}
    )
    new = f"{EVENTS_TABLE}_c{horizon}"
    tx.execute(f"CREATE TABLE {new} (LIKE {EVENTS_TABLE} INCLUDING DEFAULTS)")
    kept = tx.execute(
        f"INSERT INTO {new} SELECT e.* FROM {EVENTS_TABLE} e WHERE e.notification_id < %(h)s "
        "AND NOT EXISTS (SELECT 1 FROM archived_ids a WHERE a.id = e.originator_id) "
        "ORDER BY e.notification_id",
        {"h": horizon},
    )
    for name in old:
        tx.execute(f"ALTER TABLE {EVENTS_TABLE} DETACH PARTITION {name}")
    tx.execute(f"CREATE UNIQUE INDEX ON {new} (originator_id, originator_version)")
    tx.execute(f"ALTER TABLE {new} ADD CHECK (notification_id < {horizon})")
    tx.execute(
        f"ALTER TABLE {EVENTS_TABLE} ATTACH PARTITION {new} "
        f"FOR VALUES FROM (MINVALUE) TO ({horizon})"
    )
    _guard_partition(tx, new)
    for name in old:
        if keep:
            tx.execute(f"ALTER TABLE {name} RENAME TO {name}_archived")
        else:
            tx.execute(f"DROP TABLE {name}")
    names = tuple(f"{n}_archived" if keep else n for n in old)
    return Removal(horizon, int((total or {})["n"]) - kept, kept, names)


def _default_top(tx: Tx) -> int:
    row = tx.one(f"SELECT coalesce(max(notification_id), 0) AS top FROM {DEFAULT_PARTITION}")
    return int((row or {"top": 0})["top"])


def _create_default(tx: Tx) -> None:
    tx.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {EVENTS_TABLE} DEFAULT")
    tx.execute(f"CREATE UNIQUE INDEX ON {DEFAULT_PARTITION} (originator_id, originator_version)")
    _guard_partition(tx, DEFAULT_PARTITION)


def _ensure_parent_triggers(tx: Tx) -> list[str]:
    existing = {row["tgname"] for row in tx.query(TRIGGER_NAMES, {"t": EVENTS_TABLE})}
    created = []
    for name, when, each, function in PARENT_TRIGGERS:
        if name not in existing:
            tx.execute(
                f"CREATE TRIGGER {name} {when} ON {EVENTS_TABLE} {each} EXECUTE FUNCTION {function}"
            )
            created.append(f"trigger {name}")
    return created


def _guard_partition(tx: Tx, name: str) -> None:
    # Row triggers of the parent are cloned onto every partition; a TRUNCATE of the
    # partition itself fires only the partition's own statement triggers.
    if f"{name}_no_truncate" in {row["tgname"] for row in tx.query(TRIGGER_NAMES, {"t": name})}:
        return
    tx.execute(
        f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {REJECT_FUNCTION}"
    )


def _size(tx: Tx, name: str) -> int:
    row = tx.one("SELECT coalesce(pg_total_relation_size(to_regclass(%(t)s)), 0) AS n", {"t": name})
    return int((row or {"n": 0})["n"])
