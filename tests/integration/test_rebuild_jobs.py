"""A rebuild started over HTTP runs in a thread of the process, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from domain.context import CommandContext
from entrypoints.bootstrap import Container, build_container, rebuild_lock
from entrypoints.rebuild_jobs import RebuildJob, RebuildJobs
from projections.rebuild import RebuildLockedError
from tests.unit.conftest import make_spec


def finished(job: RebuildJob, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while (record := job.as_record())["status"] == "running":
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    return record


def test_a_rebuild_job_switches_in_the_rebuilt_tables_and_says_how_far_it_came(
    container: Container,
) -> None:
    ctx = CommandContext("test", datetime.now(UTC), uuid.uuid4())
    for number in range(5):
        container.app.create_task(make_spec(name=f"job-{number}"), ctx)
    head = container.app.head_position()
    jobs = RebuildJobs(container)

    other = build_container(container.settings, process="other")  # the CLI, say
    try:
        with rebuild_lock(other.database, "tasks"), pytest.raises(RebuildLockedError):
            jobs.start("tasks", "admin")
    finally:
        other.close()
    record = finished(jobs.start("tasks", "admin"))

    assert record["status"] == "switched", record
    assert record["applied"] == record["total"] == head and record["position"] == head
    assert [job.projection for job in jobs.all()] == ["tasks"]
