"""`scheduler projections status|rebuild`: inspect and rebuild the read-side projections."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click
import psycopg
from psycopg.rows import dict_row

from adapters.database import PostgresDatabase, SqliteDatabase
from adapters.migrations import apply_migrations
from application.scheduler_app import SchedulerApp
from entrypoints.bootstrap import all_projections, build_database, schema_lock
from entrypoints.cli_support import config_option, load_cli_settings, unreachable_error
from entrypoints.settings import Settings
from projections.base import Projection
from projections.ports import Database, Params, Row, Tx
from projections.rebuild import (
    SHADOW_SUFFIX,
    PageSource,
    Progress,
    Rebuild,
    RebuildError,
    RebuildResult,
    relevant_pages,
    replay,
)
from projections.status import ProjectionState, now_utc, read_states

REBUILD_LOCK_CLASS = 727_003  # with hashtext(name): one rebuild per projection at a time
PROGRESS_EVERY_SECONDS = 1.0
SHOWN_DIFFERENCES = 20
SCRATCH_PRAGMAS = ("PRAGMA synchronous = OFF", "PRAGMA cache_size = -1048576")  # up to 1 GiB


@click.group()
def projections() -> None:
    """Inspect and rebuild the projections that keep the read tables."""


@projections.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@config_option
def status(as_json: bool, config: Path | None) -> None:
    """Show each projection's position, the log head, the lag and the last error."""
    with open_store(load_cli_settings(config)) as (app, database):
        states = read_states(database, app, all_projections())
    now = now_utc()
    if as_json:
        click.echo(json.dumps([_state_record(s, now) for s in states], indent=2))
        return
    rows = [
        [
            s.name,
            ",".join(s.tables),
            str(s.position),
            "?" if s.head is None else str(s.head),
            "?" if s.lag is None else str(s.lag),
            "degraded" if s.problem(now) else "ok",
            _ago(s.updated_at, now),
            _ago(s.rebuilt_at, now),
            f"{_ago(s.last_error_at, now)}: {s.last_error}" if s.last_error else "-",
        ]
        for s in states
    ]
    header = ["PROJECTION", "TABLES", "POSITION", "HEAD", "LAG", "STATE", "ADVANCED"]
    click.echo(_table([[*header, "REBUILT", "LAST ERROR"], *rows]))


@projections.command()
@click.argument("name", required=False)
@click.option("--verify", is_flag=True, help="Compare rebuilt and live rows; exit 1 if any differ.")
@click.option("--dry-run", is_flag=True, help="Build (and with --verify compare), never swap in.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=100_000),
    default=5_000,
    show_default=True,
    help="Log events per shadow transaction.",
)
@config_option
def rebuild(
    name: str | None, verify: bool, dry_run: bool, batch_size: int, config: Path | None
) -> None:
    """Rebuild NAME (default: every projection) from the log into new tables and swap them in.

    The API keeps reading the old tables until the swap, which is one transaction. Progress
    goes to stderr; the result to stdout.
    """
    chosen = _choose(name)
    settings = load_cli_settings(config)
    with open_store(settings) as (app, database), ExitStack() as stack:
        for projection in chosen:
            stack.enter_context(exclusive_rebuild(database, projection.name))
        job = stack.enter_context(
            rebuild_job(
                app,
                database,
                chosen,
                batch_size,
                progress_printer(sys.stderr),
                env=settings.eventstore_env(),
            )
        )
        try:
            result = job.run(switch=not dry_run, verify=verify)
        except RebuildError as error:
            raise click.ClickException(str(error)) from None
        except (psycopg.Error, sqlite3.Error) as error:  # the shadows are dropped already
            raise unreachable_error("rebuild failed", error) from None
    _report(result, verify)
    if result.differing_rows:
        sys.exit(1)


def _choose(name: str | None) -> list[Projection]:
    known = all_projections()
    if name is None:
        return known
    chosen = [p for p in known if p.name == name]
    if not chosen:
        names = ", ".join(p.name for p in known)
        raise click.BadParameter(f"no projection {name!r} (known: {names})", param_hint="NAME")
    return chosen


def _report(result: RebuildResult, verify: bool) -> None:
    positions = ", ".join(f"{n} at {p}" for n, p in result.positions.items())
    rate = result.events / result.elapsed if result.elapsed > 0 else 0.0
    done = "swapped in" if result.switched else "dry run, live tables unchanged"
    click.echo(
        f"rebuilt {len(result.positions)} projection(s) from {result.events} events in "
        f"{result.elapsed:.1f}s ({rate:,.0f} events/s); {done}: {positions}"
    )
    if not verify:
        return
    if not result.differing_rows:
        click.echo("verify: rebuilt tables equal the live tables")
        return
    click.echo(f"verify: {result.differing_rows} row(s) differ between live and rebuilt:")
    for difference in result.differences[:SHOWN_DIFFERENCES]:
        click.echo(f"  {difference.describe()}")
    if result.differing_rows > SHOWN_DIFFERENCES:
        click.echo(f"  ... and {result.differing_rows - SHOWN_DIFFERENCES} more")


@contextmanager
def open_store(settings: Settings) -> Iterator[tuple[SchedulerApp, Database]]:
    """The event store and the read database, with the read tables migrated."""
    try:
        database = build_database(settings)
        with schema_lock(settings):
            apply_migrations(database, announce=False)
            app = SchedulerApp(env=settings.eventstore_env())
    except Exception as error:
        raise unreachable_error(f"cannot open {settings.masked_database_url}", error) from None
    try:
        yield app, database
    finally:
        app.close()
        database.close()


@contextmanager
def exclusive_rebuild(database: Database, name: str) -> Iterator[None]:
    """Refuse a second rebuild of the same projection while this one runs."""
    busy = click.ClickException(f"another rebuild of {name!r} is running")
    if isinstance(database, PostgresDatabase):
        with psycopg.connect(database.conninfo, autocommit=True) as connection:
            row = connection.execute(
                "SELECT pg_try_advisory_lock(%s::int, hashtext(%s))", (REBUILD_LOCK_CLASS, name)
            ).fetchone()
            if not (row and row[0]):
                raise busy
            yield  # closing the session releases the lock
        return
    assert isinstance(database, SqliteDatabase)
    path = database.path.with_name(f"{database.path.name}.rebuild-{name}.lock")
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield


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
    job = Rebuild(
        chosen,
        relevant_pages(app, chosen),
        database,
        head=app.head_position,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    if not isinstance(database, PostgresDatabase):
        yield job  # SQLite runs in-process already: straight into the shadows
        return
    with (
        psycopg.connect(database.conninfo, autocommit=True, row_factory=dict_row) as connection,
        tempfile.TemporaryDirectory(prefix="scheduler-rebuild-") as directory,
    ):
        # Shadow rows lost in a crash are rebuilt anyway: no need to wait for the WAL flush.
        connection.execute("SET synchronous_commit = off")
        job.page_transaction = lambda: _pipelined(connection)
        job.bulk = ScratchBulk(
            connection, app, chosen, batch_size, Path(directory), env, on_progress
        )
        yield job


@contextmanager
def _pipelined(connection: psycopg.Connection[Any]) -> Iterator[Tx]:
    with connection.transaction(), connection.pipeline():
        yield PipelinedTx(connection)


class ScratchBulk:
    """Replays the bulk of the log into local SQLite scratch files, then COPYs them in.

    A projection statement costs microseconds in-process against tens of microseconds on a
    server. Projections are independent, so groups of them replay in parallel processes.
    """

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        app: SchedulerApp,
        chosen: Sequence[Projection],
        batch_size: int,
        directory: Path,
        env: Mapping[str, str] | None,
        on_progress: Callable[[Progress], None],
    ) -> None:
        self._connection = connection
        self._app = app
        self._chosen = chosen
        self._batch_size = batch_size
        self._directory = directory
        # The parent made the store's tables; concurrent CREATE ... IF NOT EXISTS can fail.
        self._env = {**env, "CREATE_TABLE": "n"} if env is not None else None
        self._on_progress = on_progress

    def __call__(self, target: int) -> int:
        """Fill every shadow up to `target`.

        Raises:
            RebuildError: a group could not reach the target, or the dialects disagree.
        """
        processes = min(len(self._chosen), os.cpu_count() or 1) if self._env else 1
        groups = _balanced(self._chosen, processes)
        paths = [self._directory / f"scratch-{i}.db" for i in range(len(groups))]
        if len(groups) == 1:
            started = time.monotonic()
            reached = [
                _replay_scratch(
                    relevant_pages(self._app, groups[0]),
                    groups[0],
                    target,
                    self._batch_size,
                    paths[0],
                    lambda p: self._on_progress(Progress(p, target, time.monotonic() - started)),
                )
            ]
        else:
            names = [[p.name for p in group] for group in groups]
            spawn = multiprocessing.get_context("spawn")  # no forking of threads and pools
            with ProcessPoolExecutor(len(groups), mp_context=spawn) as pool:
                reached = list(
                    pool.map(
                        _replay_in_child,
                        [self._env] * len(groups),
                        names,
                        [target] * len(groups),
                        [self._batch_size] * len(groups),
                        [str(path) for path in paths],
                    )
                )
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
            live = {
                r["column_name"]
                for r in self._connection.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = %s",
                    (target,),
                )
            }
            if set(columns) != live:
                raise RebuildError(f"the SQLite and PostgreSQL columns of {table!r} differ")
            names = ", ".join(f'"{c}"' for c in columns)
            with (
                self._connection.transaction(),
                self._connection.cursor().copy(f'COPY "{target}" ({names}) FROM STDIN') as copy,
            ):
                for row in reader.execute(f'SELECT {names} FROM "{table}"'):
                    copy.write_row(row)
        finally:
            reader.close()


def _balanced(chosen: Sequence[Projection], groups: int) -> list[list[Projection]]:
    """Split projections into groups of similar work, measured by their handler count."""

    def weight(projection: Projection) -> int:
        return sum(len(handlers) for handlers in projection._handlers.values())

    bins: list[list[Projection]] = [[] for _ in range(max(groups, 1))]
    for projection in sorted(chosen, key=weight, reverse=True):
        min(bins, key=lambda b: sum(weight(p) for p in b)).append(projection)
    return [group for group in bins if group]


def _replay_in_child(
    env: dict[str, str], names: list[str], target: int, batch_size: int, path: str
) -> int:
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
) -> int:
    scratch = SqliteDatabase(path)
    try:
        # A throwaway file: nothing to make durable, and it is read back at once.
        for pragma in SCRATCH_PRAGMAS:
            scratch.query(pragma)
        apply_migrations(scratch, announce=False)
        return replay(
            chosen,
            pages,
            scratch.transaction,
            start=0,
            stop=target,
            batch_size=batch_size,
            on_page=on_page,
        )
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


def _state_record(state: ProjectionState, now: datetime) -> dict[str, Any]:
    return {
        "projection": state.name,
        "tables": list(state.tables),
        "position": state.position,
        "head": state.head,
        "lag": state.lag,
        "status": "degraded" if state.problem(now) else "ok",
        "reason": state.problem(now),
        "advanced_at": _iso(state.updated_at),
        "rebuilt_at": _iso(state.rebuilt_at),
        "last_error": state.last_error,
        "last_error_at": _iso(state.last_error_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = max((now - value).total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )
