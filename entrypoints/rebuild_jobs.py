"""Projection rebuilds started over HTTP: each runs in a thread of this process, watched here."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.errors import NotFoundError
from entrypoints.bootstrap import rebuild_job, rebuild_lock
from projections.catalog import all_projections
from projections.rebuild import Progress, RebuildLockedError, RebuildResult

if TYPE_CHECKING:
    from entrypoints.bootstrap import Container

logger = logging.getLogger(__name__)

BATCH_SIZE = 5_000  # log events per shadow transaction, the CLI's default
RUNNING, SWITCHED, FAILED = "running", "switched", "failed"


class RebuildStoppedError(Exception):
    """The process is stopping: the rebuild gives up and drops its shadow tables."""


@dataclass
class RebuildJob:
    """One rebuild of one projection: who started it, how far it came, how it ended."""

    projection: str
    actor: str
    started_at: datetime
    status: str = RUNNING  # running | switched | failed
    applied: int = 0  # the log position the shadow tables have replayed up to
    total: int = 0  # the log head it replays to (it grows while new events come)
    elapsed_seconds: float = 0.0
    finished_at: datetime | None = None
    position: int | None = None  # where the projection stands once switched
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progressed(self, progress: Progress) -> None:
        """Note how far the replay came (called about once a page)."""
        with self._lock:
            self.applied, self.total = progress.position, progress.head
            self.elapsed_seconds = progress.elapsed

    def ended(self, now: datetime, result: RebuildResult | None, error: str | None) -> None:
        """Note the switch (with the result) or the failure."""
        with self._lock:
            self.finished_at = now
            if result is not None:
                self.status, self.elapsed_seconds = SWITCHED, result.elapsed
                self.position = result.positions.get(self.projection)
                self.applied, self.total = result.events, max(self.total, result.events)
            else:
                self.status, self.error = FAILED, error

    def as_record(self) -> dict[str, Any]:
        """The job as the API and the system page show it."""
        with self._lock:
            percent = 100.0 if self.status == SWITCHED else self._percent()
            return {
                "projection": self.projection,
                "status": self.status,
                "applied": self.applied,
                "total": self.total,
                "percent": round(percent, 1),
                "elapsed_seconds": round(self.elapsed_seconds, 3),
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "position": self.position,
                "error": self.error,
                "actor": self.actor,
            }

    def _percent(self) -> float:
        return 100 * self.applied / self.total if self.total else 0.0


class RebuildJobs:
    """The rebuilds this process started: one at a time per projection, the last one kept.

    The projection's rebuild lock is taken before a job is accepted, so a rebuild running
    anywhere else (`scheduler projections rebuild`, another API process) refuses it.
    """

    def __init__(self, container: Container, batch_size: int = BATCH_SIZE) -> None:
        self._container = container
        self._batch_size = batch_size
        self._jobs: dict[str, RebuildJob] = {}
        self._lock = threading.Lock()

    def start(self, name: str, actor: str) -> RebuildJob:
        """Start rebuilding projection `name` in a thread and return its job at once.

        Raises:
            NotFoundError: no projection has that name.
            RebuildLockedError: a rebuild of it is running, here or elsewhere.
        """
        projection = next((p for p in all_projections() if p.name == name), None)
        if projection is None:
            raise NotFoundError("projection", name)
        with self._lock:
            current = self._jobs.get(name)
            if current is not None and current.status == RUNNING:
                raise RebuildLockedError(f"a rebuild of {name!r} is running ({current.actor})")
            held = ExitStack()
            held.enter_context(rebuild_lock(self._container.database, name))
            job = RebuildJob(name, actor, self._container.clock.now())
            self._jobs[name] = job
        try:
            self._container.start_thread(f"rebuild-{name}", self._run, job, projection, held)
        except BaseException:
            held.close()
            raise
        return job

    def get(self, name: str) -> RebuildJob | None:
        """The last rebuild of `name` this process started, if any."""
        with self._lock:
            return self._jobs.get(name)

    def all(self) -> list[RebuildJob]:
        """Every projection's last rebuild started here, by projection name."""
        with self._lock:
            return [self._jobs[name] for name in sorted(self._jobs)]

    def _run(self, job: RebuildJob, projection: Any, held: ExitStack) -> None:
        container = self._container

        def progressed(progress: Progress) -> None:
            if container.stop.is_set():  # stopping: give up, the shadows are dropped
                raise RebuildStoppedError("the process is stopping")
            job.progressed(progress)

        try:
            with (
                held,
                rebuild_job(
                    container.app, container.database, [projection], self._batch_size, progressed
                ) as rebuild,
            ):
                result = rebuild.run(switch=True)
        except Exception as error:  # the live tables stay as they were
            logger.warning(
                "rebuild of %s failed: %s",
                job.projection,
                error,
                extra={"action": "rebuild_failed", "projection": job.projection},
            )
            job.ended(container.clock.now(), None, str(error) or type(error).__name__)
            return
        job.ended(container.clock.now(), result, None)
        logger.info(
            "rebuilt %s from %d events",
            job.projection,
            result.events,
            extra={"action": "rebuild_switched", "projection": job.projection},
        )
