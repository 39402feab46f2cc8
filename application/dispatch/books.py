"""The dispatcher's in-memory books, each following the log behind its own quarantine guard."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from application.dispatch.backfills import BackfillBook
from application.dispatch.board import DispatchBoard
from application.dispatch.cron_firing import CronBook
from application.dispatch.dependencies import DependencyBook
from application.dispatch.entries import OpenRun
from application.dispatch.failure_streaks import FailureStreakBook
from application.dispatch.known import KnownAggregates
from application.dispatch.policy import DispatchObserver
from application.quarantine import (
    RELEASE,
    RETRY,
    AggregateLog,
    GuardedConsumer,
    QuarantineEntry,
    QuarantineLedger,
    describe,
)
from domain.api_key import ApiKey
from domain.api_key_name import ApiKeyName
from domain.task_name import TaskName

logger = logging.getLogger(__name__)

BOARD, CRON, DEPENDENCIES = "dispatcher:board", "dispatcher:cron", "dispatcher:dependencies"
BACKFILLS = "dispatcher:backfills"
FAILURES = "dispatcher:failures"  # pause after consecutive failures
SCHEDULES = "dispatcher:schedules"  # tasks whose timing cannot be evaluated (not held events)
REQUESTED_TOPIC = "scheduler:TaskRun.Requested"
READ_BATCH = 1_000  # events per read of the log
# Aggregates no book follows: their rows are read past without being decoded (half of a log
# of tasks is their name reservations).
SKIPPED_TOPICS = tuple(f"{aggregate.TOPIC}." for aggregate in (TaskName, ApiKey, ApiKeyName))

# (after, limit) -> (events, position of the last row read, rows read)
ReadPage = Callable[[int, int], tuple[Sequence[tuple[int, Any]], int, int]]


class DispatchBooks:
    """The board, the cron, dependency, backfill and failure books and the known aggregates,
    fed the log.

    Each applies the log through its own guard: an event one of them cannot handle holds that
    aggregate in that book alone (docs/operations.md).
    """

    def __init__(
        self,
        ledger: QuarantineLedger,
        now: Callable[[], datetime],
        aggregate_log: AggregateLog | None = None,
        observer: DispatchObserver | None = None,
    ) -> None:
        self.quarantine = ledger
        self._now = now
        self.position = 0
        self.board = DispatchBoard(observer)
        self.cron = CronBook(on_blocked=self._cron_blocked, on_unblocked=self._cron_unblocked)
        self.deps = DependencyBook()
        self.backfills = BackfillBook()
        self.failures = FailureStreakBook()
        self.known = KnownAggregates()  # a cache of the log, outside the guards: never fails
        self.board_guard = GuardedConsumer(BOARD, self.board.apply, ledger, now, aggregate_log)
        self.guards = [
            self.board_guard,
            GuardedConsumer(CRON, lambda p, e: self.cron.apply(e, p), ledger, now, aggregate_log),
            GuardedConsumer(
                DEPENDENCIES, lambda _p, e: self.deps.apply(e), ledger, now, aggregate_log
            ),
            GuardedConsumer(
                BACKFILLS, lambda _p, e: self.backfills.apply(e), ledger, now, aggregate_log
            ),
            GuardedConsumer(
                FAILURES, lambda _p, e: self.failures.apply(e), ledger, now, aggregate_log
            ),
        ]

    def load(self) -> None:
        """Learn releases and open entries from the ledger (before the start-up replay)."""
        for guard in self.guards:
            guard.load()

    def follow(self, read_page: ReadPage, after_batch: Callable[[], None] = lambda: None) -> int:
        """Apply the events after the last row read; returns how many rows were read."""
        total = 0
        while True:
            batch, last, rows = read_page(self.position, READ_BATCH)
            if not rows:
                break
            for position, event in batch:
                for guard in self.guards:
                    guard.apply(position, event)
                self.known.apply(event)
            self.position = last
            total += rows
            after_batch()  # the board's notices go out batch by batch, in log order
            if rows < READ_BATCH:
                break  # the head when it was read: asking again would find nothing
        if total:
            for guard in self.guards:
                guard.flush()
        return total

    def hold_run(self, run: OpenRun, error: Exception) -> None:
        """Take a run off the board that the decisions cannot handle; its aggregate is held."""
        self.board.drop(run.run_id)
        self.board_guard.hold(str(run.run_id), run.position, REQUESTED_TOPIC, describe(error))
        logger.warning("run %s quarantined: %s", run.run_id, describe(error))

    def handle_quarantine_requests(self) -> int:
        """Retry or release what operators asked for (held aggregates, blocked schedules)."""
        actions = sum(guard.handle_requests() for guard in self.guards)
        blocked = self.cron.blocked()
        if not blocked:
            return actions
        ids = [str(task_id) for task_id in blocked]
        for entry in self.quarantine.entries(SCHEDULES, statuses=None, aggregate_ids=ids):
            actions += self._schedule_request(entry)
        return actions

    def _schedule_request(self, entry: QuarantineEntry) -> int:
        task_id = UUID(entry.aggregate_id)
        if entry.request == RETRY:
            reason = self.cron.retry(task_id)
            if reason is not None:  # still unreadable: say so again
                self.quarantine.record(
                    SCHEDULES,
                    entry.aggregate_id,
                    "Task",
                    entry.position,
                    entry.topic,
                    reason,
                    self._now(),
                )
            return 1
        if entry.request == RELEASE:
            # Released: the task stays out of the cron book until its timing changes.
            self.cron.tasks.pop(task_id, None)
            through = entry.requested_through or self.position
            self.quarantine.release(SCHEDULES, entry.aggregate_id, through, self._now())
            return 1
        return 0

    def _cron_blocked(self, task_id: UUID, position: int, reason: str) -> None:
        self.quarantine.record(
            SCHEDULES, str(task_id), "Task", position, "scheduler:Task", reason, self._now()
        )
        logger.warning("task %s cannot be scheduled: %s", task_id, reason)

    def _cron_unblocked(self, task_id: UUID, note: str) -> None:
        self.quarantine.resolve(SCHEDULES, str(task_id), self._now(), note)
