"""The `task_run_stats` read table: per-task counts, durations and the last outcome."""

from __future__ import annotations

from typing import Any

from domain.task_run import TaskRun
from projections.base import Projection, handles
from projections.ports import Tx

REMEMBER_RUN = """
INSERT INTO task_run_stats_runs (run_id, task_uuid) VALUES (%(run_id)s, %(task_uuid)s)
ON CONFLICT (run_id) DO NOTHING
"""
COUNT_REQUEST = """
INSERT INTO task_run_stats (task_uuid, runs_total) VALUES (%(task_uuid)s, 1)
ON CONFLICT (task_uuid) DO UPDATE SET runs_total = task_run_stats.runs_total + 1
"""
COUNT_OUTCOME = """
UPDATE task_run_stats SET
    runs_succeeded = runs_succeeded + %(succeeded)s,
    runs_failed = runs_failed + %(failed)s,
    total_duration_seconds = total_duration_seconds + %(duration)s,
    max_duration_seconds = CASE
        WHEN max_duration_seconds IS NULL OR max_duration_seconds < %(duration)s
        THEN %(duration)s ELSE max_duration_seconds END,
    last_run_id = %(run_id)s, last_status = %(status)s, last_finished_at = %(at)s
WHERE task_uuid = (SELECT r.task_uuid FROM task_run_stats_runs r WHERE r.run_id = %(run_id)s)
"""


class RunStatsProjection(Projection):
    """Aggregates each task's run outcomes."""

    name = "run_stats"
    tables = ("task_run_stats", "task_run_stats_runs")

    @handles(TaskRun.Requested)
    def run_requested(self, event: TaskRun.Requested, position: int, tx: Tx) -> None:
        params = {"run_id": event.originator_id, "task_uuid": event.task_id}
        tx.execute(REMEMBER_RUN, params)
        tx.execute(COUNT_REQUEST, params)

    @handles(
        TaskRun.Succeeded,
        TaskRun.Failed,
        TaskRun.TimedOut,
        TaskRun.Cancelled,
        TaskRun.UpstreamFailed,
    )
    def run_finished(self, event: Any, position: int, tx: Tx) -> None:
        # The run's task is found by the statement itself (a run never requested: no row):
        # no read, so a pipelined batch does not wait for the server at each outcome.
        succeeded = isinstance(event, TaskRun.Succeeded)
        tx.execute(
            COUNT_OUTCOME,
            {
                "run_id": event.originator_id,
                "succeeded": int(succeeded),
                "failed": int(not succeeded),
                # A time-out decided by the deadline has no duration (null): it counts as 0.
                "duration": float(getattr(event, "duration_seconds", None) or 0.0),
                "status": type(event).status,
                "at": event.timestamp,
            },
        )
