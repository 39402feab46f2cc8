"""How a rebuild runs on each store: PostgreSQL replays the bulk into local scratch files."""

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
from typing import Any, TextIO

import psycopg

from adapters.migrations import apply_migrations
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.shadow_ddl import PostgresShadowDdl
from adapters.sqlite.database import SqliteDatabase
from adapters.sqlite.shadow_ddl import SqliteShadowDdl
from application.quarantine import HELD, RELEASED, InMemoryQuarantineLedger, QuarantineEntry
from application.scheduler_app import SchedulerApp
from entrypoints.bootstrap import all_projections
from projections.base import Projection
from projections.ports import Database, Params, Row, Tx
from projections.rebuild import (
    SHADOW_SUFFIX,
    PageSource,
    Progress,
    Rebuild,
    RebuildError,
    relevant_pages,
    replay,
)

PROGRESS_EVERY_SECONDS = 1.0
MIN_REBUILD_POOL = 2  # pooled connections: the shadow writer, and the log reader
SCRATCH_PRAGMAS = ("PRAGMA synchronous = OFF", "PRAGMA cache_size = -1048576")  # up to 1 GiB


@contextmanager
def rebuild_job(
    app: SchedulerApp,
    database: Database,
    chosen: Sequence[Projection],
    batch_size: int = 5_000,
    on_progress: Callable[[Progress], None] = lambda _progress: None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Rebuild]:
    """A rebuild wired for the store.

    On PostgreSQL the bulk goes through local scratch files (in parallel processes when
    `env`, the event store settings, is given) and the rest through pipelined pages.
    """
    postgres = isinstance(database, PostgresDatabase)
    job = Rebuild(
        chosen,
        relevant_pages(app, chosen),
        database,
        PostgresShadowDdl() if postgres else SqliteShadowDdl(),
        head=app.head_position,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    if not postgres:
        yield job  # SQLite runs in-process already: straight into the shadows
        return
    if database.pool.max_size < MIN_REBUILD_POOL:
        raise RebuildError(
            f"a rebuild on PostgreSQL needs [database] pool_size >= {MIN_REBUILD_POOL + 1}: "
            "its final step reads the log while it holds a transaction on the views"
        )
    with tempfile.TemporaryDirectory(prefix="scheduler-rebuild-") as directory:
        job.page_transaction = lambda: _pipelined(database)
        job.bulk = ScratchBulk(database, app, chosen, batch_size, Path(directory), env, on_progress)
        yield job


@contextmanager
def _unsynced(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """A transaction whose commit does not wait for the WAL flush; it ends with it."""
    with connection.transaction():
        # Shadow rows lost in a crash are rebuilt anyway. SET LOCAL, because the connection
        # goes back to the pool the event store draws on, which must keep synchronous commits.
        connection.execute("SET LOCAL synchronous_commit = off")
        yield


@contextmanager
def _pipelined(database: PostgresDatabase) -> Iterator[Tx]:
    with database.pool.connection() as connection, _unsynced(connection), connection.pipeline():
        yield PipelinedTx(connection)


class ScratchBulk:
    """Replays the bulk of the log into local SQLite scratch files, then COPYs them in.

    A projection statement costs microseconds in-process against tens of microseconds on a
    server. Projections are independent, so groups of them replay in parallel processes.
    """

    def __init__(
        self,
        database: PostgresDatabase,
        app: SchedulerApp,
        chosen: Sequence[Projection],
        batch_size: int,
        directory: Path,
        env: Mapping[str, str] | None,
        on_progress: Callable[[Progress], None],
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
                _replay_scratch(
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
                        _replay_in_child,
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
            with self._database.pool.connection() as connection, _unsynced(connection):
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
                with connection.cursor().copy(copy_in) as copy:  # type: ignore[arg-type]
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


def _replay_in_child(
    env: dict[str, str],
    names: list[str],
    target: int,
    batch_size: int,
    path: str,
    released: list[QuarantineEntry],
) -> tuple[int, list[QuarantineEntry]]:
    """A child process's share: its own event store connection, scratch file and progress."""
    chosen = [p for p in all_projections() if p.name in names]
    app = SchedulerApp(env=env)
    show = progress_printer(sys.stderr, label=",".join(names))
    started = time.monotonic()
    try:
        return _replay_scratch(
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


def _replay_scratch(
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
    scratch = SqliteDatabase(path)
    try:
        # A throwaway file: nothing to make durable, and it is read back at once.
        for pragma in SCRATCH_PRAGMAS:
            scratch.query(pragma)
        apply_migrations(scratch, announce=False)
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


class PipelinedTx:
    """Statements are sent without waiting for their answers; a read waits for its own only.

    Row counts are unknown until the pipeline syncs, so `execute` returns -1: projection
    handlers never use them.
    """

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection
        self._cursor = connection.cursor()

    def execute(self, sql: str, params: Params = None) -> int:
        """Queue one statement."""
        self._cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]
        return -1

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue one statement per parameter set."""
        self._cursor.executemany(sql, rows)  # type: ignore[arg-type]

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows, on a cursor of their own so that no earlier statement's result is taken."""
        with self._connection.cursor() as cursor:
            cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]
            return list(cursor.fetchall())

    def one(self, sql: str, params: Params = None) -> Row | None:
        """The first row, or None."""
        with self._connection.cursor() as cursor:
            cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]
            return cursor.fetchone()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A SAVEPOINT (psycopg syncs the pipeline on leaving it, so errors surface here)."""
        with self._connection.transaction():
            yield


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
