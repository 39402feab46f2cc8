"""How a rebuild runs on each store: PostgreSQL replays the bulk into local scratch files."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from adapters.postgres.bulk_rebuild import bulk_through_scratch, replay_scratch
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.shadow_ddl import PostgresShadowDdl
from adapters.sqlite.shadow_ddl import SqliteShadowDdl
from application.quarantine import QuarantineEntry
from application.scheduler_app import SchedulerApp
from entrypoints.bootstrap import all_projections
from projections.base import Projection
from projections.ports import Database
from projections.rebuild import Progress, Rebuild, progress_printer, relevant_pages


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
    if not isinstance(database, PostgresDatabase):
        # SQLite runs in-process already: straight into the shadows.
        yield Rebuild(
            chosen,
            relevant_pages(app, chosen),
            database,
            SqliteShadowDdl(),
            head=app.head_position,
            batch_size=batch_size,
            on_progress=on_progress,
        )
        return
    job = Rebuild(
        chosen,
        relevant_pages(app, chosen),
        database,
        PostgresShadowDdl(),
        head=app.head_position,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    with bulk_through_scratch(job, database, app, env, _replay_in_child) as accelerated:
        yield accelerated


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
