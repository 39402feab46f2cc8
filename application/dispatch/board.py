"""The dispatch board: open runs, worker slots, broadcasts and finished attempts, from the log."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from application.dispatch.dependencies import FINAL_STATUS
from application.dispatch.entries import OpenRun, WorkerSlot
from application.dispatch.policy import DispatchObserver, NullObserver
from application.messages import Control
from application.run_definition import check_definition
from domain.namespace_limits import Namespace
from domain.task_run import TaskRun
from domain.task_spec import PRIORITY_RANK
from domain.worker import Worker

FINISHED_REMEMBERED = 50_000  # finished runs kept to fence workers still running them


@dataclass(frozen=True)
class DropInbox:
    """A worker left: its inbox is deleted."""

    worker_id: UUID


Notice = Control | DropInbox  # what an applied event asks the dispatcher to tell the bus


class DispatchBoard:
    """The only owner of open runs, worker slots, broadcasts and finished attempts.

    It changes only by applying log events, one handler per event type, so a decision of this
    dispatcher becomes visible once: when its event is read back. What an event asks to tell
    the bus (cancel or drain a worker, delete an inbox) waits in `notices`, in log order.
    """

    def __init__(self, observer: DispatchObserver | None = None) -> None:
        self.open_runs: dict[UUID, OpenRun] = {}
        self.workers: dict[UUID, WorkerSlot] = {}
        self.broadcasts: dict[UUID, dict[UUID, str | None]] = {}  # run -> shard -> final status
        self.finished_attempts: OrderedDict[UUID, int] = OrderedDict()
        self.notices: deque[Notice] = deque()
        self.namespace_limits: dict[str, int] = {}  # max_concurrent_runs of limited namespaces
        self._observer = observer or NullObserver()
        self._when = self.when  # bound once: the descriptor would rebind on every event

    def apply(self, position: int, event: Any) -> None:
        """Update the board from one event of the log (a failure is the guard's to hold)."""
        self._when(event, position)

    @singledispatchmethod
    def when(self, event: Any, position: int) -> None:
        """An event the board does not follow changes nothing."""

    @when.register
    def run_requested(self, event: TaskRun.Requested, position: int) -> None:
        """A new run is open; a definition the run path cannot read fails here (held)."""
        check_definition(event.task)
        self.open_runs[event.originator_id] = OpenRun(
            run_id=event.originator_id,
            task_id=event.task_id,
            position=position,
            priority_rank=PRIORITY_RANK.get(event.task.get("priority", "normal"), 1),
            task=event.task,
            params=event.params,
            requested_at=event.timestamp,
            trigger=event.trigger,
            traceparent=event.metadata.get("traceparent"),
        )

    @when.register
    def shard_requested(self, event: TaskRun.ShardRequested, position: int) -> None:
        """A shard is an open run meant for one worker."""
        self.run_requested(event, position)
        run = self.open_runs[event.originator_id]
        run.parent_run_id, run.target_worker_id = event.parent_run_id, event.target_worker_id
        run.shard = (event.shard_index, event.shard_total)

    @when.register
    def run_fanned_out(self, event: TaskRun.FannedOut, position: int) -> None:
        """A broadcast run waits for its shards."""
        if run := self.open_runs.get(event.originator_id):
            run.fanned_out = True
            self.broadcasts[event.originator_id] = dict.fromkeys(event.shard_run_ids)

    @when.register
    def run_waiting(self, event: TaskRun.WaitNoted, position: int) -> None:
        """Remember the recorded reason, so it is recorded once per cause."""
        if run := self.open_runs.get(event.originator_id):
            run.wait_code = event.code

    @when.register
    def run_assigned(self, event: TaskRun.Assigned, position: int) -> None:
        """The run is out on a worker for a new attempt."""
        if run := self.open_runs.get(event.originator_id):
            self._release(run)
            run.worker_id, run.attempt, run.started_at = event.worker_id, event.attempt, None
            run.retry_at, run.wait_code = None, None
            if slot := self.workers.get(event.worker_id):
                slot.running.add(run.run_id)

    @when.register
    def run_started(self, event: TaskRun.Started, position: int) -> None:
        """The attempt started: its deadline counts from now."""
        if run := self.open_runs.get(event.originator_id):
            run.started_at = event.timestamp
            self._observer.run_dispatched((event.timestamp - run.requested_at).total_seconds())

    @when.register
    def run_retry_scheduled(self, event: TaskRun.RetryScheduled, position: int) -> None:
        """The attempt failed; the run waits for its retry time, on no worker."""
        if run := self.open_runs.get(event.originator_id):
            self._release(run)
            run.worker_id, run.started_at, run.retry_at = None, None, event.retry_at

    @when.register
    def run_requeued(self, event: TaskRun.Requeued, position: int) -> None:
        """Its worker was lost: the run is pending again."""
        if run := self.open_runs.get(event.originator_id):
            self._release(run)
            run.worker_id, run.started_at = None, None

    @when.register
    def run_ended(
        self,
        event: TaskRun.Succeeded
        | TaskRun.Failed
        | TaskRun.TimedOut
        | TaskRun.Skipped
        | TaskRun.UpstreamFailed,
        position: int,
    ) -> None:
        """The run is closed; its attempt is remembered to fence late workers."""
        self._close(event)

    @when.register
    def run_cancelled(self, event: TaskRun.Cancelled, position: int) -> None:
        """Closed like any end; a worker still running it is told to kill it."""
        run = self._close(event)
        if run is not None and run.worker_id is not None:
            # The worker kills the process group; its report is then a duplicate.
            self.notices.append(Control("cancel", run.worker_id, run.run_id, run.attempt))

    def _close(self, event: Any) -> OpenRun | None:
        key = event.originator_id
        self.broadcasts.pop(key, None)
        run = self.open_runs.pop(key, None)
        if run is not None:
            self._release(run)
            if run.parent_run_id and (shards := self.broadcasts.get(run.parent_run_id)):
                shards[key] = FINAL_STATUS[type(event)]
        self.finished_attempts[key] = getattr(event, "attempt", 0)
        while len(self.finished_attempts) > FINISHED_REMEMBERED:
            self.finished_attempts.popitem(last=False)
        return run

    @when.register
    def namespace_created(self, event: Namespace.Created, position: int) -> None:
        """A namespace and its limit of runs out at once (None: unlimited)."""
        self._limit_namespace(event.name, event.max_concurrent_runs)

    @when.register
    def namespace_limits_changed(self, event: Namespace.LimitsChanged, position: int) -> None:
        """Its limit changed: runs held by it go out as the new limit allows."""
        self._limit_namespace(event.name, event.max_concurrent_runs)

    def _limit_namespace(self, name: str, limit: int | None) -> None:
        if limit is None:
            self.namespace_limits.pop(name, None)
        else:
            self.namespace_limits[name] = limit

    @when.register
    def worker_registered(self, event: Worker.Registered, position: int) -> None:
        """A worker joins with its capabilities."""
        self.workers[event.originator_id] = WorkerSlot(
            worker_id=event.originator_id,
            name=event.name,
            executors=frozenset(event.executors),
            queues=frozenset(event.queues),
            labels=dict(event.labels),
            capacity=event.max_concurrent_tasks,
            namespaces=frozenset(event.namespaces),
        )

    @when.register
    def worker_draining(self, event: Worker.DrainStarted, position: int) -> None:
        """It takes no new runs; a drain asked for through the API reaches it this way."""
        if slot := self.workers.get(event.originator_id):
            slot.status = "draining"
            self.notices.append(Control("drain", slot.worker_id))

    @when.register
    def worker_lost(self, event: Worker.Lost, position: int) -> None:
        """Its lease expired."""
        if slot := self.workers.get(event.originator_id):
            slot.status = "lost"

    @when.register
    def worker_deregistered(self, event: Worker.Deregistered, position: int) -> None:
        """It left: its inbox goes too."""
        if slot := self.workers.get(event.originator_id):
            slot.status = "gone"
            self.notices.append(DropInbox(slot.worker_id))

    def drop(self, run_id: UUID) -> None:
        """Take a run off the board whose aggregate is quarantined (not a log decision)."""
        if run := self.open_runs.pop(run_id, None):
            self._release(run)

    def _release(self, run: OpenRun) -> None:
        if run.worker_id is not None and (slot := self.workers.get(run.worker_id)):
            slot.running.discard(run.run_id)

    # Questions the plan and the maintenance ask

    def pending(self, now: datetime) -> list[OpenRun]:
        """Runs on no worker and due (a retry after its time), in assignment order."""
        return sorted(
            (
                r
                for r in self.open_runs.values()
                if r.worker_id is None
                and not r.fanned_out
                and (r.retry_at is None or r.retry_at <= now)
            ),
            key=OpenRun.sort_key,
        )

    def busy_tasks(self) -> set[UUID]:
        """Tasks with a run out on a worker or fanned out (overlap policies apply)."""
        return {
            r.task_id for r in self.open_runs.values() if r.worker_id is not None or r.fanned_out
        }

    def out_runs_of(self, task_id: UUID) -> list[UUID]:
        """The task's runs out on a worker."""
        return [
            r.run_id
            for r in self.open_runs.values()
            if r.task_id == task_id and r.worker_id is not None
        ]

    def finished_broadcasts(self) -> list[tuple[UUID, dict[UUID, str]]]:
        """Broadcast runs whose shards have all ended, with each shard's final status."""
        return [
            (parent, {k: str(v) for k, v in shards.items()})
            for parent, shards in self.broadcasts.items()
            if all(status is not None for status in shards.values())
        ]

    def superseded(self, run_id: UUID, attempt: int) -> bool:
        """Whether the log proves the attempt over: a newer attempt exists or the run ended.

        A run this board has not read yet is never superseded.
        """
        run = self.open_runs.get(run_id)
        if run is not None:
            return run.attempt > attempt
        return run_id in self.finished_attempts
