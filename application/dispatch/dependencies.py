"""Task dependencies in batches: which downstream runs to request, hold or fail."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from application.results import DependencyDecision
from domain.statuses import RunStatus
from domain.task import Task
from domain.task_run import RUN_ENDINGS, TaskRun

CLOSED_BATCHES_REMEMBERED = 20_000  # batches with no open run; the oldest are forgotten
OPEN = "open"  # a run of the batch that has not ended yet
SUCCEEDED = RunStatus.SUCCEEDED
FINAL_STATUS: dict[type[Any], RunStatus] = {event: event.status for event in RUN_ENDINGS}


@dataclass(frozen=True)
class Finished:
    """An upstream run that ended, with the downstream tasks it had at that moment."""

    batch_id: UUID
    task_id: UUID
    downstream: tuple[UUID, ...]
    traceparent: str | None = None  # the upstream run's trace: its downstream runs join it


class DependencyBook:
    """Follows task and run events; a batch is the correlation id of its root trigger.

    Decisions use the graph as it was when the upstream run ended, so adding a dependency
    today never requests runs for yesterday's batches when the log is replayed.
    """

    def __init__(self) -> None:
        self.upstreams: dict[UUID, tuple[UUID, ...]] = {}
        self.downstreams: dict[UUID, set[UUID]] = {}
        self.names: dict[UUID, str] = {}
        self.outcomes: dict[UUID, dict[UUID, tuple[str, UUID]]] = {}
        self.open_runs: dict[UUID, int] = {}  # batch -> runs not finished
        self.closed: OrderedDict[UUID, None] = OrderedDict()  # batches with none, oldest first
        self.run_batch: dict[UUID, tuple[UUID, UUID]] = {}
        self.finished: list[Finished] = []

    def apply(self, event: Any) -> None:
        """Update from one event of the log."""
        key = event.originator_id
        if isinstance(event, Task.Created):
            self.names[key] = str(event.spec["name"])
            self._set_upstreams(key, event.spec.get("depends_on") or [])
        elif isinstance(event, Task.Updated):
            if "name" in event.changes:
                self.names[key] = str(event.changes["name"])
            if "depends_on" in event.changes:
                self._set_upstreams(key, event.changes["depends_on"] or [])
        elif isinstance(event, Task.Deleted):
            self._set_upstreams(key, [])
        elif isinstance(event, TaskRun.Requested):
            if isinstance(event, TaskRun.ShardRequested):
                return  # a shard is part of its broadcast run, which counts for the batch
            # Every run is followed, not only those of tasks with dependencies now: a
            # dependency added while an upstream run is under way applies when it ends.
            batch_id = UUID(event.metadata["correlation_id"])
            self.run_batch[key] = (batch_id, event.task_id)
            self.outcomes.setdefault(batch_id, {})[event.task_id] = (OPEN, key)
            self.open_runs[batch_id] = self.open_runs.get(batch_id, 0) + 1
            self.closed.pop(batch_id, None)
        elif type(event) in FINAL_STATUS and key in self.run_batch:
            batch_id, task_id = self.run_batch.pop(key)
            self.outcomes.setdefault(batch_id, {})[task_id] = (FINAL_STATUS[type(event)], key)
            if downstream := self.downstreams.get(task_id):
                trace = event.metadata.get("traceparent")
                self.finished.append(Finished(batch_id, task_id, tuple(sorted(downstream)), trace))
            self._close_run(batch_id)

    def decisions(self) -> tuple[list[Finished], list[DependencyDecision]]:
        """Take the finished upstream runs not yet decided on, and what they call for."""
        finished, self.finished = self.finished, []
        decisions: list[DependencyDecision] = []
        for item in finished:
            batch = self.outcomes.get(item.batch_id)
            if batch is None:
                continue  # forgotten: far older than anything still waiting
            status, run_id = batch[item.task_id]
            for task_id in item.downstream:
                decision = self._decide(batch, item, status, run_id, task_id)
                if decision is not None:
                    decisions.append(decision)
        return finished, decisions

    def retry(self, finished: list[Finished]) -> None:
        """Put back finished runs whose decisions could not be saved."""
        self.finished[:0] = finished

    def blocking(self, run_id: UUID) -> list[str]:
        """Names of the upstream tasks a held dependency run still waits for."""
        if run_id not in self.run_batch:
            return []
        batch_id, task_id = self.run_batch[run_id]
        batch = self.outcomes.get(batch_id, {})
        return [
            self.names.get(upstream, str(upstream))
            for upstream in self.upstreams.get(task_id, ())
            if batch.get(upstream, (OPEN,))[0] != SUCCEEDED
        ]

    def _decide(
        self,
        batch: dict[UUID, tuple[str, UUID]],
        item: Finished,
        status: str,
        run_id: UUID,
        task_id: UUID,
    ) -> DependencyDecision | None:
        own = batch.get(task_id)
        if own is not None and own[0] != OPEN:
            return None  # already decided in this batch
        if status != SUCCEEDED:
            name = self.names.get(item.task_id, str(item.task_id))
            return DependencyDecision(
                task_id,
                item.batch_id,
                run_id,
                failed_upstream=(item.task_id, status),
                reason=f"upstream_failed: upstream task {name!r} ended {status} (run {run_id})",
                traceparent=item.traceparent,
            )
        if own is not None:
            return None  # a held run: it goes out once its other upstreams succeed
        states = [batch.get(u) for u in self.upstreams.get(task_id, ())]
        if all(state is not None for state in states):
            # Every upstream ran in this batch: run now, or hold until the rest succeed.
            return DependencyDecision(task_id, item.batch_id, run_id, traceparent=item.traceparent)
        return None  # an upstream has no run in this batch: nothing to wait for

    def _set_upstreams(self, task_id: UUID, refs: list[str]) -> None:
        for upstream in self.upstreams.pop(task_id, ()):
            self.downstreams.get(upstream, set()).discard(task_id)
        upstreams = tuple(UUID(ref) for ref in refs)
        if upstreams:
            self.upstreams[task_id] = upstreams
        for upstream in upstreams:
            self.downstreams.setdefault(upstream, set()).add(task_id)

    def _close_run(self, batch_id: UUID) -> None:
        # A batch with open runs is never forgotten, however long its runs take; closed
        # ones are kept for late decisions until many newer batches have closed.
        self.open_runs[batch_id] = self.open_runs.get(batch_id, 1) - 1
        if self.open_runs[batch_id] > 0:
            return
        self.closed[batch_id] = None
        while len(self.closed) > CLOSED_BATCHES_REMEMBERED:
            old, _ = self.closed.popitem(last=False)
            self.outcomes.pop(old, None)
            self.open_runs.pop(old, None)
