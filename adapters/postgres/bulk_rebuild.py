"""A PostgreSQL rebuild's bulk: replayed into local SQLite scratch files, then COPYed in."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from adapters.postgres.database import PipelinedTx, PostgresDatabase, unsynced
from adapters.sqlite.scratch import scratch_database
from application.quarantine import HELD, RELEASED, InMemoryQuarantineLedger, QuarantineEntry
from projections.base import Projection
from projections.ports import Tx
from projections.rebuild import (
    PageSource,
    Progress,
    Rebuild,
    progress_printer,
    relevant_pages,
    replay,
)
from projections.shadow_tables import SHADOW_SUFFIX, RebuildError

MIN_REBUILD_POOL = 2  # pooled connections: the shadow writer, and the log reader
# One child process's share of the bulk, run in a spawned process (so it pickles by name):
# (event store env, projection names, target, batch size, scratch path, released entries)
# -> (position reached, entries it quarantined). The composition root provides it, as
# `replay_share` given what the child builds.
ReplayShare = Callable[
    [dict[str, str], list[str], int, int, str, list[QuarantineEntry]],
    tuple[int, list[QuarantineEntry]],
]


class AppFactory(Protocol):
    """Builds an application on an event store environment (SchedulerApp itself)."""

    def __call__(self, *, env: dict[str, str]) -> Any: ...


@contextmanager
def bulk_through_scratch(
    job: Rebuild,
    database: PostgresDatabase,
    app: Any,
    env: Mapping[str, str] | None,
    share: ReplayShare,
) -> Iterator[Rebuild]:
    """The job, its bulk replayed into scratch files and its pages sent pipelined.

    The bulk runs in parallel processes (each `share`) when `env`, the event store
    settings, is given; `app` is the SchedulerApp whose log is replayed.

    Raises:
        RebuildError: the pool is too small for the rebuild's final step.
    """
    if database.pool.max_size < MIN_REBUILD_POOL:
        raise RebuildError(
            f"a rebuild on PostgreSQL needs [database] pool_size >= {MIN_REBUILD_POOL + 1}: "
            "its final step reads the log while it holds a transaction on the views"
        )
    with tempfile.TemporaryDirectory(prefix="scheduler-rebuild-") as directory:
        job.page_transaction = lambda: pipelined_transaction(database)
        job.bulk = ScratchBulk(
            database,
            app,
            job.projections,
            job.batch_size,
            Path(directory),
            env,
            job.on_progress,
            share,
        )
        yield job


@contextmanager
def pipelined_transaction(database: PostgresDatabase) -> Iterator[Tx]:
    """A shadow page's transaction: pipelined, and not waiting for the WAL flush."""
    with database.pool.connection() as connection, unsynced(connection), connection.pipeline():
        yield PipelinedTx(connection)


class ScratchBulk:
    """Replays the bulk of the log into local SQLite scratch files, then COPYs them in.

    A projection statement costs microseconds in-process against tens of microseconds on a
    server. Projections are independent, so groups of them replay in parallel processes.
    """

    def __init__(
        self,
        database: PostgresDatabase,
        app: Any,
        chosen: Sequence[Projection],
        batch_size: int,
        directory: Path,
        env: Mapping[str, str] | None,
        on_progress: Callable[[Progress], None],
        share: ReplayShare,
    ) -> None:
        self._database = database
        self._app = app
        self._chosen = chosen
        self._batch_size = batch_size
        self._directory = directory
        # The parent made the store's tables; concurrent CREATE ... IF NOT EXISTS can fail.
        # A child reads the log on one thread: one connection is all it may hold.
        self._env = (
            {**env, "CREATE_TABLE": "n", "POSTGRES_POOL_SIZE": "1"} if env is not None else None
        )
        self._on_progress = on_progress
        self._share = share

    def __call__(self, target: int, ledger: InMemoryQuarantineLedger) -> int:
        """Fill every shadow up to `target`; what the replay quarantined goes to `ledger`.

        Raises:
            RebuildError: a group could not reach the target, or the dialects disagree.
        """
        processes = min(len(self._chosen), os.cpu_count() or 1) if self._env else 1
        groups = _balanced(self._chosen, processes)
        paths = [self._directory / f"scratch-{i}.db" for i in range(len(groups))]
        released = ledger.entries(None, statuses=(RELEASED,))
        if len(groups) == 1:
            started = time.monotonic()
            results = [
                replay_scratch(
                    relevant_pages(self._app, groups[0]),
                    groups[0],
                    target,
                    self._batch_size,
                    paths[0],
                    lambda p: self._on_progress(Progress(p, target, time.monotonic() - started)),
                    released,
                )
            ]
        else:
            names = [[p.name for p in group] for group in groups]
            spawn = multiprocessing.get_context("spawn")  # no forking of threads and pools
            with ProcessPoolExecutor(len(groups), mp_context=spawn) as pool:
                results = list(
                    pool.map(
                        self._share,
                        [self._env] * len(groups),
                        names,
                        [target] * len(groups),
                        [self._batch_size] * len(groups),
                        [str(path) for path in paths],
                        [released] * len(groups),
                    )
                )
        reached = [position for position, _held in results]
        for _position, held in results:
            ledger.add(held)
        if any(position != target for position in reached):
            raise RebuildError(f"the log ended before position {target}: {reached}")
        for group, path in zip(groups, paths, strict=True):
            for table in (t for p in group for t in p.tables):
                self._copy(path, table, table + SHADOW_SUFFIX)
        return target

    def _copy(self, path: Path, table: str, target: str) -> None:
        """Stream a scratch table into its shadow with one COPY."""
        reader = sqlite3.connect(path)
        try:
            columns = [row[1] for row in reader.execute(f'PRAGMA table_info("{table}")')]
            with self._database.pool.connection() as connection, unsynced(connection):
                live = {
                    r["column_name"]
                    for r in connection.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = %s",
                        (target,),
                    )
                }
                if set(columns) != live:
                    raise RebuildError(f"the SQLite and PostgreSQL columns of {table!r} differ")
                names = ", ".join(f'"{c}"' for c in columns)
                copy_in = f'COPY "{target}" ({names}) FROM STDIN'
                with connection.cursor().copy(copy_in) as copy:
                    for row in reader.execute(f'SELECT {names} FROM "{table}"'):
                        copy.write_row(row)
        finally:
            reader.close()


def _balanced(chosen: Sequence[Projection], groups: int) -> list[list[Projection]]:
    """Split projections into groups of similar work, measured by their handler count."""

    def weight(projection: Projection) -> int:
        return sum(projection.handled_events().values())

    bins: list[list[Projection]] = [[] for _ in range(max(groups, 1))]
    for projection in sorted(chosen, key=weight, reverse=True):
        min(bins, key=lambda b: sum(weight(p) for p in b)).append(projection)
    return [group for group in bins if group]


def replay_share(
    app_factory: AppFactory,
    catalog: Callable[[], Sequence[Projection]],
    env: dict[str, str],
    names: list[str],
    target: int,
    batch_size: int,
    path: str,
    released: list[QuarantineEntry],
) -> tuple[int, list[QuarantineEntry]]:
    """A child process's share: its own event store connection, scratch file and progress.

    `app_factory` and `catalog` (the projections by name) are what the composition root
    chose; they pickle by name, so the child imports only what it runs.
    """
    chosen = [p for p in catalog() if p.name in names]
    app = app_factory(env=env)
    show = progress_printer(sys.stderr, label=",".join(names))
    started = time.monotonic()
    try:
        return replay_scratch(
            relevant_pages(app, chosen),
            chosen,
            target,
            batch_size,
            Path(path),
            lambda p: show(Progress(p, target, time.monotonic() - started)),
            released,
        )
    finally:
        app.close()


def replay_scratch(
    pages: PageSource,
    chosen: Sequence[Projection],
    target: int,
    batch_size: int,
    path: Path,
    on_page: Callable[[int], None],
    released: Sequence[QuarantineEntry],
) -> tuple[int, list[QuarantineEntry]]:
    """Replay into a scratch file; returns the position reached and what was quarantined."""
    ledger = InMemoryQuarantineLedger(released)
    scratch = scratch_database(path, unsynced=True)
    try:
        reached = replay(
            chosen,
            pages,
            scratch.transaction,
            start=0,
            stop=target,
            batch_size=batch_size,
            on_page=on_page,
            ledger=lambda _tx: ledger,
            is_outage=scratch.is_outage,
        )
        return reached, ledger.entries(None, statuses=(HELD,))
    finally:
        scratch.close()
