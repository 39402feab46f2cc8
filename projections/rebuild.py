"""Rebuild projections from position 0 into shadow tables, then swap them in atomically.

While the shadows fill, the API keeps reading the live tables and the live runners keep
applying new events to them. The swap is one transaction that holds each projection's
tracking row, so a live runner waits for it and then continues from the swapped-in position:
no event is applied twice and none is skipped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.utils import resolve_topic

from projections.base import Projection
from projections.ports import Database, Params, Row, Tx
from projections.runner import lock_position
from projections.status import note_rebuilt

logger = logging.getLogger(__name__)

Events = list[tuple[int, Any]]
SHADOW_SUFFIX = "__rebuild"
OLD_SUFFIX = "__old"
SET_POSITION = """
UPDATE projection_tracking SET position = %(position)s, updated_at = %(at)s
WHERE projection = %(name)s
"""
# The shadows are filled again while they are further than this from the head, so the events
# left to apply while the live runners wait (in the switch's transaction) are few.
FINAL_STEP_EVENTS = 1_000
SWITCH_ATTEMPTS = 3
MAX_REPORTED = 1_000  # differing rows fetched per table and side


class RebuildError(Exception):
    """The rebuild cannot be completed safely (e.g. a live table's columns changed)."""


class PageSource(Protocol):
    """Reads the log in pages: the events some projection needs, and the last position read."""

    def __call__(self, after: int, limit: int) -> tuple[Events, int]: ...


def relevant_pages(app: Any, projections: Sequence[Projection]) -> PageSource:
    """Pages from the store's notifications, decoding only events these projections handle.

    Decoding is most of the cost of reading the log, and many events concern no projection
    being rebuilt. `app` is an eventsourcing Application (its recorder and mapper).
    """
    handled = {cls for projection in projections for cls in projection._handlers}
    wanted: dict[str, bool] = {}

    def read(after: int, limit: int) -> tuple[Events, int]:
        notifications = app.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        events: Events = []
        for notification in notifications:
            topic = notification.topic
            if topic not in wanted:
                wanted[topic] = resolve_topic(topic) in handled
            if wanted[topic]:
                events.append((notification.id, app.mapper.to_domain_event(notification)))
        return events, (notifications[-1].id if notifications else after)

    return read


class RenamingTx:
    """A Tx that sends statements written for the live tables to their shadow tables."""

    def __init__(self, tx: Tx, rewrite: Callable[[str], str]) -> None:
        self._tx = tx
        self._rewrite = rewrite

    def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement on the shadows."""
        return self._tx.execute(self._rewrite(sql), params)

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement on the shadows for many parameter sets."""
        self._tx.executemany(self._rewrite(sql), rows)

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows from the shadows."""
        return self._tx.query(self._rewrite(sql), params)

    def one(self, sql: str, params: Params = None) -> Row | None:
        """One row from the shadows."""
        return self._tx.one(self._rewrite(sql), params)


def table_renamer(renames: Mapping[str, str]) -> Callable[[str], str]:
    """Rewrite whole-word table names in SQL, leaving string literals and placeholders alone."""
    names = "|".join(re.escape(name) for name in sorted(renames, key=len, reverse=True))
    pattern = re.compile(rf"'(?:[^']|'')*'|%\(\w+\)s|\b({names})\b")
    cache: dict[str, str] = {}

    def rewrite(sql: str) -> str:
        if sql not in cache:
            cache[sql] = pattern.sub(
                lambda m: renames[m.group(1)] if m.group(1) else m.group(0), sql
            )
        return cache[sql]

    return rewrite


@dataclass
class Progress:
    """How far a rebuild has come."""

    position: int
    head: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Log events replayed per second."""
        return self.position / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class Difference:
    """A row that differs between a live table and its rebuild (None: the row is absent)."""

    table: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def describe(self) -> str:
        """One line naming the row and what differs."""
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.rebuilt is None:
            return f"{self.table} ({key}): in the live table only"
        if self.live is None:
            return f"{self.table} ({key}): missing from the live table"
        changed = [
            f"{column}: live {self.live[column]!r}, rebuilt {value!r}"
            for column, value in self.rebuilt.items()
            if self.live.get(column) != value
        ]
        return f"{self.table} ({key}): " + "; ".join(changed)


@dataclass
class RebuildResult:
    """What a rebuild did."""

    positions: dict[str, int]  # where each projection stands afterwards
    differences: list[Difference]
    differing_rows: int  # may exceed len(differences), which is capped
    events: int  # log positions replayed into the shadows
    elapsed: float
    switched: bool


def replay(
    projections: Sequence[Projection],
    pages: PageSource,
    transaction: Callable[[], AbstractContextManager[Tx]],
    *,
    start: int,
    stop: int,
    batch_size: int,
    wrap: Callable[[Tx], Tx] = lambda tx: tx,
    on_page: Callable[[int], None] = lambda _position: None,
) -> int:
    """Apply the events in (start, stop] to the projections, a page per transaction.

    Returns the position reached: `stop`, or less if the log ends before it.
    """
    position = start
    while position < stop:
        events, last = pages(position, batch_size)
        if last == position:
            break
        if last > stop:
            events = [(p, e) for p, e in events if p <= stop]
        with transaction() as tx:
            target = wrap(tx)
            for projection in projections:
                for event_position, event in events:
                    projection.process(event, event_position, target)
        position = min(last, stop)
        on_page(position)
    return position


@dataclass
class Rebuild:
    """Replays the log into shadow tables of some projections and swaps them in."""

    projections: Sequence[Projection]
    pages: PageSource
    database: Database
    head: Callable[[], int]
    batch_size: int = 5_000
    # The transaction for shadow pages; on PostgreSQL a pipelined one saves round trips.
    page_transaction: Callable[[], AbstractContextManager[Tx]] | None = None
    # Fills every shadow up to a position some faster way and returns the position reached
    # (on PostgreSQL: local SQLite scratch files, then COPY). The rest goes page by page.
    bulk: Callable[[int], int] | None = None
    on_progress: Callable[[Progress], None] = lambda _progress: None
    final_step: int = FINAL_STEP_EVENTS
    clock: Callable[[], float] = time.monotonic
    position: int = 0  # where the shadows stand
    _started: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.ddl = ShadowDdl.for_dialect(self.database.dialect)
        self.tables = [table for projection in self.projections for table in projection.tables]
        rewrite = table_renamer({t: t + SHADOW_SUFFIX for t in self.tables})
        self._shadow: Callable[[Tx], Tx] = lambda tx: RenamingTx(tx, rewrite)

    def run(self, *, switch: bool = True, verify: bool = False) -> RebuildResult:
        """Create the shadows, fill them up to the head, then compare and/or swap them in."""
        self._started = self.clock()
        self.prepare()
        try:
            for attempt in range(1, SWITCH_ATTEMPTS + 1):
                self.catch_up()
                try:
                    return self.finish(switch=switch, verify=verify)
                except RebuildError:
                    raise
                except Exception as error:  # e.g. a lock timeout: readers held a live table
                    if attempt == SWITCH_ATTEMPTS:
                        raise
                    logger.warning("switch failed, catching up and retrying: %s", error)
            raise AssertionError("unreachable")
        finally:
            self.discard()

    def prepare(self) -> None:
        """Create empty shadow tables (replacing any left by an interrupted rebuild)."""
        with self.database.transaction() as tx:
            for table in self.tables:
                self.ddl.create_shadow(tx, table)
        self.position = 0

    def catch_up(self) -> None:
        """Fill the shadows to the log head, again while new events keep it far ahead."""
        if self.bulk is not None and self.position == 0:
            self.position = self.bulk(self.head())
            self._report(self.position, self.position)
        first = True
        while first or self.head() - self.position > self.final_step:
            first, head = False, self.head()
            reached = replay(
                self.projections,
                self.pages,
                self.page_transaction or self.database.transaction,
                start=self.position,
                stop=head,
                batch_size=self.batch_size,
                wrap=self._shadow,
                on_page=lambda position, head=head: self._report(position, head),
            )
            if reached == self.position:
                return
            self.position = reached

    def finish(self, *, switch: bool, verify: bool) -> RebuildResult:
        """In one transaction: hold the live runners, align positions, compare, swap."""
        with self.database.transaction() as tx:
            self.ddl.analyze_shadows(tx, self.tables)
        positions: dict[str, int] = {}
        differences: list[Difference] = []
        differing = 0
        with self.database.transaction() as tx:
            self.ddl.limit_lock_wait(tx)
            ordered = sorted(self.projections, key=lambda p: p.name)
            # Held to the end: each live runner waits here, then reads the new position.
            live = {p.name: lock_position(tx, self.database.dialect, p.name) for p in ordered}
            for projection in ordered:
                position = self._align(
                    tx, projection, live[projection.name], switch=switch, verify=verify
                )
                positions[projection.name] = position
                if position != live[projection.name]:
                    tx.execute(
                        SET_POSITION, {"name": projection.name, "position": position, "at": _now()}
                    )
                for table in projection.tables:
                    self.ddl.check_same_columns(tx, table)
                    if verify:
                        rows, count = compare_table(tx, self.ddl, table)
                        differences += rows
                        differing += count
            if switch:
                for table in self.tables:
                    self.ddl.swap(tx, table)
                for name, position in positions.items():
                    note_rebuilt(tx, name, position, _now())
        elapsed = self.clock() - self._started
        return RebuildResult(positions, differences, differing, self.position, elapsed, switch)

    def discard(self) -> None:
        """Drop the shadow tables still there (all of them after a dry run or a failure)."""
        with self.database.transaction() as tx:
            for table in self.tables:
                self.ddl.drop_shadow(tx, table)

    def _align(
        self, tx: Tx, projection: Projection, live: int, *, switch: bool, verify: bool
    ) -> int:
        """Bring the side that is behind up to the other where needed; return the position
        the live tables stand at once this transaction commits.

        A shadow behind the live tables catches up. Live tables behind the shadow catch up
        only to be compared (a swap replaces them): their runner waits on its row, so this
        does its work.
        """
        same_tx: Callable[[], AbstractContextManager[Tx]] = lambda: nullcontext(tx)  # noqa: E731
        if self.position < live:
            if switch or verify:
                replay(
                    [projection],
                    self.pages,
                    same_tx,
                    start=self.position,
                    stop=live,
                    batch_size=self.batch_size,
                    wrap=self._shadow,
                )
            return live
        if verify and live < self.position:
            replay(
                [projection],
                self.pages,
                same_tx,
                start=live,
                stop=self.position,
                batch_size=self.batch_size,
            )
        return self.position if switch or verify else live

    def _report(self, position: int, head: int) -> None:
        self.on_progress(Progress(position, max(head, position), self.clock() - self._started))


def compare_table(tx: Tx, ddl: ShadowDdl, table: str) -> tuple[list[Difference], int]:
    """Rows that differ between a table and its shadow (capped), and how many keys differ."""
    shadow = table + SHADOW_SUFFIX
    key = ddl.primary_key(tx, table) or [name for name, _type in ddl.columns(tx, table)]
    sides: list[dict[tuple[Any, ...], Row]] = []
    for first, second in ((table, shadow), (shadow, table)):
        rows = tx.query(
            f'SELECT * FROM "{first}" EXCEPT SELECT * FROM "{second}" LIMIT {MAX_REPORTED}'
        )
        sides.append({tuple(str(row[k]) for k in key): row for row in rows})
    live_rows, rebuilt_rows = sides
    keys = sorted(set(live_rows) | set(rebuilt_rows))
    differences = [
        Difference(
            table,
            dict(zip(key, k, strict=True)),
            live_rows.get(k),
            rebuilt_rows.get(k),
        )
        for k in keys
    ]
    return differences, len(keys)


class ShadowDdl:
    """Creates, swaps and inspects shadow tables; one subclass per SQL dialect."""

    @staticmethod
    def for_dialect(dialect: str) -> ShadowDdl:
        """The DDL of "sqlite" or "postgres"."""
        return PostgresShadowDdl() if dialect == "postgres" else SqliteShadowDdl()

    def create_shadow(self, tx: Tx, table: str) -> None:
        """An empty copy of the table with its columns, constraints and indexes."""
        raise NotImplementedError

    def swap(self, tx: Tx, table: str) -> None:
        """Put the shadow in the live table's place, under the live names, and drop the old."""
        raise NotImplementedError

    def columns(self, tx: Tx, table: str) -> list[tuple[str, str]]:
        """(name, type) of each column, in order."""
        raise NotImplementedError

    def primary_key(self, tx: Tx, table: str) -> list[str]:
        """The primary key's columns, in order."""
        raise NotImplementedError

    def drop_shadow(self, tx: Tx, table: str) -> None:
        """Drop the table's shadow if there is one."""
        tx.execute(f'DROP TABLE IF EXISTS "{table}{SHADOW_SUFFIX}"')

    def limit_lock_wait(self, tx: Tx) -> None:
        """Bound how long the switch waits for readers of the live tables."""

    def analyze_shadows(self, tx: Tx, tables: Sequence[str]) -> None:
        """Refresh planner statistics so the swapped-in tables are queried well at once."""

    def check_same_columns(self, tx: Tx, table: str) -> None:
        """Refuse to swap when the live table's columns changed during the rebuild.

        Raises:
            RebuildError: a migration altered the table since the shadow was created.
        """
        if self.columns(tx, table) != self.columns(tx, table + SHADOW_SUFFIX):
            raise RebuildError(f"the columns of {table!r} changed during the rebuild; run it again")


class PostgresShadowDdl(ShadowDdl):
    """`CREATE TABLE ... (LIKE ... INCLUDING ALL)`; index names restored after the swap."""

    INDEXES = """
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = %(table)s::regclass ORDER BY c.relname
    """
    COLUMNS = """
    SELECT column_name AS name, data_type AS type FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = %(table)s ORDER BY ordinal_position
    """
    PRIMARY_KEY = """
    SELECT a.attname AS name FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
    WHERE i.indrelid = %(table)s::regclass AND i.indisprimary
    ORDER BY array_position(i.indkey, a.attnum)
    """

    def __init__(self) -> None:
        self._index_names: dict[str, list[tuple[str, str]]] = {}

    def create_shadow(self, tx: Tx, table: str) -> None:
        """LIKE copies columns, defaults, constraints and indexes under generated names."""
        shadow = table + SHADOW_SUFFIX
        self.drop_shadow(tx, table)
        tx.execute(f'CREATE TABLE "{shadow}" (LIKE "{table}" INCLUDING ALL)')
        # Pair each generated index name with the live one it copies (same definition), so
        # the swap can restore the live names and later migrations still find them.
        live = self._definitions(tx, table)
        copies = self._definitions(tx, shadow)
        self._index_names[table] = [
            (copy, name)
            for signature, names in live.items()
            for name, copy in zip(names, copies.get(signature, []), strict=False)
        ]

    def swap(self, tx: Tx, table: str) -> None:
        """Rename live to old, shadow to live, drop old, then give the indexes their names."""
        old, shadow = table + OLD_SUFFIX, table + SHADOW_SUFFIX
        tx.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
        tx.execute(f'ALTER TABLE "{shadow}" RENAME TO "{table}"')
        tx.execute(f'DROP TABLE "{old}"')
        for copy, name in self._index_names.get(table, []):
            tx.execute(f'ALTER INDEX "{copy}" RENAME TO "{name}"')  # renames its constraint too

    def columns(self, tx: Tx, table: str) -> list[tuple[str, str]]:
        """From information_schema, in column order."""
        return [(r["name"], r["type"]) for r in tx.query(self.COLUMNS, {"table": table})]

    def primary_key(self, tx: Tx, table: str) -> list[str]:
        """From pg_index."""
        return [r["name"] for r in tx.query(self.PRIMARY_KEY, {"table": table})]

    def limit_lock_wait(self, tx: Tx) -> None:
        """A long API query must not stall the switch (and every reader queued behind it)."""
        tx.execute("SET LOCAL lock_timeout = '5s'")

    def analyze_shadows(self, tx: Tx, tables: Sequence[str]) -> None:
        """ANALYZE each shadow."""
        for table in tables:
            tx.execute(f'ANALYZE "{table}{SHADOW_SUFFIX}"')

    def _definitions(self, tx: Tx, table: str) -> dict[str, list[str]]:
        """Index names by definition with the index and table names left out."""
        found: dict[str, list[str]] = {}
        for row in tx.query(self.INDEXES, {"table": table}):
            unique = row["definition"].startswith("CREATE UNIQUE")
            signature = f"{unique} {row['definition'].split(' USING ', 1)[1]}"
            found.setdefault(signature, []).append(row["name"])
        return found


class SqliteShadowDdl(ShadowDdl):
    """The CREATE statements from sqlite_master, renamed; indexes recreated after the swap."""

    CREATE_TABLE = re.compile(
        r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|\w+)",
        re.IGNORECASE,
    )
    CREATE_INDEX = re.compile(
        r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON\s+\S+?\s*\(",
        re.IGNORECASE,
    )

    def __init__(self) -> None:
        self._indexes: dict[str, list[tuple[str, str]]] = {}

    def create_shadow(self, tx: Tx, table: str) -> None:
        """The table's own CREATE statement and explicit indexes, under shadow names."""
        shadow = table + SHADOW_SUFFIX
        self.drop_shadow(tx, table)
        row = tx.one(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %(table)s",
            {"table": table},
        )
        if row is None:
            raise RebuildError(f"no table {table!r}: run `scheduler migrate` first")
        tx.execute(self.CREATE_TABLE.sub(f'CREATE TABLE "{shadow}"', row["sql"], count=1))
        indexes = tx.query(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = %(table)s AND sql IS NOT NULL",
            {"table": table},
        )
        self._indexes[table] = []
        for index in indexes:
            copy = index["name"] + SHADOW_SUFFIX
            tx.execute(
                self.CREATE_INDEX.sub(
                    lambda m, c=copy: f'CREATE {m.group(1) or ""}INDEX "{c}" ON "{shadow}" (',
                    index["sql"],
                    count=1,
                )
            )
            # Kept as written: after the swap it creates the live name on the new table.
            self._indexes[table].append((copy, index["sql"]))

    def swap(self, tx: Tx, table: str) -> None:
        """Rename and drop; SQLite cannot rename an index, so it is created again."""
        old, shadow = table + OLD_SUFFIX, table + SHADOW_SUFFIX
        tx.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
        tx.execute(f'ALTER TABLE "{shadow}" RENAME TO "{table}"')
        tx.execute(f'DROP TABLE "{old}"')
        for copy, sql in self._indexes.get(table, []):
            tx.execute(f'DROP INDEX "{copy}"')
            tx.execute(sql)

    def columns(self, tx: Tx, table: str) -> list[tuple[str, str]]:
        """From pragma table_info, in column order."""
        rows = tx.query("SELECT name, type FROM pragma_table_info(%(table)s)", {"table": table})
        return [(r["name"], r["type"]) for r in rows]

    def primary_key(self, tx: Tx, table: str) -> list[str]:
        """From pragma table_info."""
        rows = tx.query(
            "SELECT name FROM pragma_table_info(%(table)s) WHERE pk > 0 ORDER BY pk",
            {"table": table},
        )
        return [r["name"] for r in rows]


def _now() -> datetime:
    return datetime.now(UTC)
