"""Rebuild projections from position 0 into shadow tables, then swap them in atomically.

While the shadows fill, the API keeps reading the live tables and the live runners keep
applying new events to them. The swap is one transaction that holds each projection's
tracking row, so a live runner waits for it and then continues from the swapped-in position:
no event is applied twice and none is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TextIO

from eventsourcing.utils import resolve_topic

from application.quarantine import (
    HELD,
    RELEASED,
    InMemoryQuarantineLedger,
    QuarantineEntry,
    QuarantineLedger,
)
from projections.base import Projection
from projections.guard import ProjectionGuard
from projections.ports import Database, Tx
from projections.quarantine import (
    DELETE_HELD,
    TxQuarantineLedger,
    record_entry,
    select_entries,
)
from projections.quarantine import note_held as note_held_sql
from projections.shadow_tables import (
    SHADOW_SUFFIX,
    Difference,
    RebuildError,
    RenamingTx,
    ShadowDdl,
    compare_table,
    table_renamer,
)
from projections.status import note_rebuilt
from projections.tracking import lock_position

logger = logging.getLogger(__name__)

Events = list[tuple[int, Any]]
SET_POSITION = """
UPDATE projection_tracking SET position = %(position)s, updated_at = %(at)s
WHERE projection = %(name)s
"""
# The shadows are filled again while they are further than this from the head, so the events
# left to apply while the live runners wait (in the switch's transaction) are few.
FINAL_STEP_EVENTS = 1_000
SWITCH_ATTEMPTS = 3
PROGRESS_EVERY_SECONDS = 1.0


class RebuildLockedError(RebuildError):
    """Another rebuild of the projection holds its lock (or the lock cannot be taken)."""


LedgerFor = Callable[[Tx], QuarantineLedger]  # the ledger to use inside a page's transaction


class PageSource(Protocol):
    """Reads the log in pages: the events some projection needs, and the last position read."""

    def __call__(self, after: int, limit: int) -> tuple[Events, int]: ...


def relevant_pages(app: Any, projections: Sequence[Projection]) -> PageSource:
    """Pages from the store's notifications, decoding only events these projections handle.

    Decoding is most of the cost of reading the log, and many events concern no projection
    being rebuilt. `app` is the SchedulerApp (its stored rows and its never-failing decode). An
    event of an unknown topic is passed on undecoded: every projection quarantines it.
    """
    handled = {cls for projection in projections for cls in projection.handled_events()}
    wanted: dict[str, bool] = {}

    def read(after: int, limit: int) -> tuple[Events, int]:
        notifications = app.notifications(after, limit)
        events: Events = []
        for notification in notifications:
            topic = notification.topic
            if topic not in wanted:
                wanted[topic] = _wanted(topic, handled)
            if wanted[topic]:
                events.append((notification.id, app.decode(notification)))
        return events, (notifications[-1].id if notifications else after)

    return read


def _wanted(topic: str, handled: set[type]) -> bool:
    try:
        return resolve_topic(topic) in handled
    except Exception:  # unknown topic: let the projections quarantine it
        return True


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


def progress_printer(stream: TextIO, label: str = "") -> Callable[[Progress], None]:
    """Print position/head and events/s about once a second."""
    last_shown = [-PROGRESS_EVERY_SECONDS]

    def show(progress: Progress) -> None:
        done = progress.position >= progress.head
        if progress.elapsed - last_shown[0] < PROGRESS_EVERY_SECONDS and not done:
            return
        last_shown[0] = progress.elapsed
        percent = 100 * progress.position / progress.head if progress.head else 100.0
        print(
            f"rebuild{f' {label}' if label else ''}: {progress.position}/{progress.head} "
            f"({percent:.0f}%) "
            f"{progress.rate:,.0f} events/s",
            file=stream,
            flush=True,
        )

    return show


@dataclass
class RebuildResult:
    """What a rebuild did."""

    positions: dict[str, int]  # where each projection stands afterwards
    differences: list[Difference]
    differing_rows: int  # may exceed len(differences), which is capped
    events: int  # log positions replayed into the shadows
    elapsed: float
    switched: bool
    quarantined: list[QuarantineEntry] = field(default_factory=list)  # held by the replay


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
    ledger: LedgerFor | None = None,
    careful: bool = False,
    is_outage: Callable[[BaseException], bool] = lambda _error: False,
) -> int:
    """Apply the events in (start, stop] to the projections, a page per transaction.

    An event that fails holds its aggregate in `ledger` (the rule of the live runners), so a
    rebuild quarantines what the runners quarantine. A page that fails is redone with a
    savepoint per event; `careful` does that from the start (a transaction it cannot redo).
    Returns the position reached: `stop`, or less if the log ends before it.
    """
    if ledger is None:
        memory = InMemoryQuarantineLedger()
        ledger = lambda _tx: memory  # noqa: E731
    position = start
    while position < stop:
        events, last = pages(position, batch_size)
        if last == position:
            break
        if last > stop:
            events = [(p, e) for p, e in events if p <= stop]
        for attempt_carefully in (careful, True):
            try:
                _apply_page(
                    projections,
                    events,
                    transaction,
                    wrap,
                    ledger,
                    position,
                    attempt_carefully,
                    is_outage,
                )
                break
            except Exception:
                if attempt_carefully:
                    raise
        position = min(last, stop)
        on_page(position)
    return position


def _apply_page(
    projections: Sequence[Projection],
    events: Events,
    transaction: Callable[[], AbstractContextManager[Tx]],
    wrap: Callable[[Tx], Tx],
    ledger: LedgerFor,
    after: int,
    careful: bool,
    is_outage: Callable[[BaseException], bool],
) -> None:
    with transaction() as tx:
        target = wrap(tx)
        book = ledger(tx)
        guards = [
            ProjectionGuard(
                p, target, book, _now, careful=careful, after=after, is_outage=is_outage
            )
            for p in projections
        ]
        for guard in guards:
            for event_position, event in events:
                guard.process(event, event_position)
            guard.flush()
        for guard in guards:
            guard.finish()


@dataclass
class Rebuild:
    """Replays the log into shadow tables of some projections and swaps them in."""

    projections: Sequence[Projection]
    pages: PageSource
    database: Database
    ddl: ShadowDdl  # in the database's dialect (adapters/<dialect>/shadow_ddl.py)
    head: Callable[[], int]
    batch_size: int = 5_000
    # The transaction for shadow pages; on PostgreSQL a pipelined one saves round trips.
    page_transaction: Callable[[], AbstractContextManager[Tx]] | None = None
    # Fills every shadow up to a position some faster way and returns the position reached
    # (on PostgreSQL: local SQLite scratch files, then COPY), adding what it quarantined to
    # the ledger it is given. The rest goes page by page.
    bulk: Callable[[int, InMemoryQuarantineLedger], int] | None = None
    on_progress: Callable[[Progress], None] = lambda _progress: None
    final_step: int = FINAL_STEP_EVENTS
    clock: Callable[[], float] = time.monotonic
    position: int = 0  # where the shadows stand
    # What the replay quarantined, kept apart from the live entries until the swap.
    ledger: InMemoryQuarantineLedger = field(default_factory=InMemoryQuarantineLedger)
    _started: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
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
        """Create empty shadow tables (replacing any left by an interrupted rebuild).

        Releases an operator made are honoured by the replay too, so it is seeded with them.
        """
        with self.database.transaction() as tx:
            for table in self.tables:
                self.ddl.create_shadow(tx, table)
            released = [
                entry
                for projection in self.projections
                for entry in select_entries(tx, projection.consumer, statuses=(RELEASED,))
            ]
        self.ledger = InMemoryQuarantineLedger(released)
        self.position = 0

    def _shadow_ledger(self, _tx: Tx) -> QuarantineLedger:
        return self.ledger

    def _live_ledger(self, tx: Tx) -> QuarantineLedger:
        return TxQuarantineLedger(tx)

    def held(self) -> list[QuarantineEntry]:
        """The aggregates the replay quarantined."""
        return self.ledger.entries(None, statuses=(HELD,))

    def catch_up(self) -> None:
        """Fill the shadows to the log head, again while new events keep it far ahead."""
        if self.bulk is not None and self.position == 0:
            self.position = self.bulk(self.head(), self.ledger)
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
                on_page=partial(self._report, head=head),
                ledger=self._shadow_ledger,
                is_outage=self.database.is_outage,
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
            # Held to the end: each live runner skips its batches until this commits, then
            # reads the new position.
            live = {p.name: lock_position(tx, self.database, p.name) for p in ordered}
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
                if verify:
                    rows = self._compare_quarantine(tx, projection)
                    differences += rows
                    differing += len(rows)
            if switch:
                for table in self.tables:
                    self.ddl.swap(tx, table)
                for name, position in positions.items():
                    note_rebuilt(tx, name, position, _now())
                self._swap_quarantine(tx)
        elapsed = self.clock() - self._started
        return RebuildResult(
            positions, differences, differing, self.position, elapsed, switch, self.held()
        )

    def _compare_quarantine(self, tx: Tx, projection: Projection) -> list[Difference]:
        """Aggregates held on one side only (or from different events)."""
        live = {
            e.aggregate_id: e.position
            for e in select_entries(tx, projection.consumer, statuses=(HELD,))
        }
        rebuilt = {
            e.aggregate_id: e.position
            for e in self.ledger.entries(projection.consumer, statuses=(HELD,))
        }
        return [
            Difference(
                "quarantine",
                {"consumer": projection.consumer, "aggregate_id": key},
                {"position": live[key]} if key in live else None,
                {"position": rebuilt[key]} if key in rebuilt else None,
            )
            for key in sorted(set(live) | set(rebuilt))
            if live.get(key) != rebuilt.get(key)
        ]

    def _swap_quarantine(self, tx: Tx) -> None:
        """The rebuilt tables come with the rebuild's quarantine: it replaces the held entries."""
        for projection in self.projections:
            tx.execute(DELETE_HELD, {"consumer": projection.consumer})
            for entry in self.ledger.entries(projection.consumer, statuses=(HELD,)):
                record_entry(
                    tx,
                    entry.consumer,
                    entry.aggregate_id,
                    entry.aggregate_type,
                    entry.position,
                    entry.topic,
                    entry.error,
                    entry.last_failed_at,
                )
                note_held_sql(
                    tx,
                    entry.consumer,
                    entry.aggregate_id,
                    entry.last_position or entry.position,
                    entry.held_count,
                )

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
                    ledger=self._shadow_ledger,
                    careful=True,
                    is_outage=self.database.is_outage,
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
                ledger=self._live_ledger,
                careful=True,
                is_outage=self.database.is_outage,
            )
        return self.position if switch or verify else live

    def _report(self, position: int, head: int) -> None:
        self.on_progress(Progress(position, max(head, position), self.clock() - self._started))


def _now() -> datetime:
    return datetime.now(UTC)
