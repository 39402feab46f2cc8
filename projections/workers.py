"""The `workers` read table: membership, capabilities and how many runs each one holds."""

from __future__ import annotations

from typing import Any

from domain.statuses import WorkerStatus
from domain.task_run import TaskRun
from domain.worker import WORKER_STATUS_CHANGES, Worker
from projections.base import Projection, handles, to_json
from projections.ports import Tx

INSERT_WORKER = """
INSERT INTO workers (id, name, hostname, status, executors, queues, labels,
                     max_concurrent_tasks, running, registered_at, updated_at, position,
                     namespaces)
VALUES (%(id)s, %(name)s, %(hostname)s, 'active', %(executors)s, %(queues)s, %(labels)s,
        %(max_concurrent_tasks)s, 0, %(at)s, %(at)s, %(position)s, %(namespaces)s)
ON CONFLICT (id) DO NOTHING
"""
SET_STATUS = """
UPDATE workers SET status = %(status)s, updated_at = %(at)s, position = %(position)s
WHERE id = %(id)s
"""
TAKE = "INSERT INTO worker_runs (run_id, worker_id) VALUES (%(run_id)s, %(worker_id)s)"
# The holder's count without the run, then the run let go: two writes and no read, so a
# pipelined batch does not wait for the server at each run (no holder: neither changes).
RECOUNT_WITHOUT = """
UPDATE workers SET running = (
    SELECT COUNT(*) FROM worker_runs r
    WHERE r.worker_id = workers.id AND r.run_id <> %(run_id)s)
WHERE id = (SELECT h.worker_id FROM worker_runs h WHERE h.run_id = %(run_id)s)
"""
RELEASE = "DELETE FROM worker_runs WHERE run_id = %(run_id)s"
RECOUNT = """
UPDATE workers SET running = (SELECT COUNT(*) FROM worker_runs WHERE worker_id = %(worker_id)s)
WHERE id = %(worker_id)s
"""


def _status_after(event_class: Any) -> WorkerStatus:
    # Each of these event classes declares the status it leaves (domain/worker.py).
    return WorkerStatus(event_class.status)


WORKER_STATUS: dict[type[Any], WorkerStatus] = {
    event: _status_after(event) for event in WORKER_STATUS_CHANGES
}


class WorkersProjection(Projection):
    """Keeps the workers table and each worker's count of unfinished runs."""

    name = "workers"
    tables = ("workers", "worker_runs")

    @handles(Worker.Registered)
    def worker_registered(self, event: Worker.Registered, position: int, tx: Tx) -> None:
        tx.execute(
            INSERT_WORKER,
            {
                "id": event.originator_id,
                "name": event.name,
                "hostname": event.hostname,
                "executors": to_json(event.executors),
                "queues": to_json(event.queues),
                "labels": to_json(event.labels),
                "namespaces": to_json(event.namespaces),
                "max_concurrent_tasks": event.max_concurrent_tasks,
                "at": event.timestamp,
                "position": position,
            },
        )

    @handles(*WORKER_STATUS)
    def worker_status_changed(self, event: Any, position: int, tx: Tx) -> None:
        tx.execute(
            SET_STATUS,
            {
                "id": event.originator_id,
                "status": WORKER_STATUS[type(event)],
                "at": event.timestamp,
                "position": position,
            },
        )

    @handles(TaskRun.Assigned)
    def run_assigned(self, event: TaskRun.Assigned, position: int, tx: Tx) -> None:
        self._release(event.originator_id, tx)
        tx.execute(TAKE, {"run_id": event.originator_id, "worker_id": event.worker_id})
        tx.execute(RECOUNT, {"worker_id": event.worker_id})

    @handles(
        TaskRun.Succeeded,
        TaskRun.Failed,
        TaskRun.TimedOut,
        TaskRun.Requeued,
        TaskRun.RetryScheduled,
        TaskRun.Cancelled,
    )
    def run_finished(self, event: Any, position: int, tx: Tx) -> None:
        self._release(event.originator_id, tx)

    @staticmethod
    def _release(run_id: Any, tx: Tx) -> None:
        tx.execute(RECOUNT_WITHOUT, {"run_id": run_id})
        tx.execute(RELEASE, {"run_id": run_id})
