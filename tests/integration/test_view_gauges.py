"""The gauges read from the views that alerts page on: dispatchers and misfires."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics import ViewCountsCollector, recent_misfires
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container
from projections.dispatcher_status import SqlDispatcherBeacon


def samples(container: Container, name: str, now: datetime) -> dict[str, float]:
    """One gauge's samples by their only label's value, scraped at `now`."""
    registry = CollectorRegistry()
    registry.register(ViewCountsCollector(container.database, now=lambda: now))
    text = generate_latest(registry).decode()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == name]
    return {next(iter(s.labels.values())): s.value for s in family.samples}


def test_dispatchers_are_counted_by_status_with_every_status_exported(
    container: Container,
) -> None:
    now = container.clock.now()
    beacon = SqlDispatcherBeacon(container.database)
    for name, beat in (("fresh", now), ("silent", now - timedelta(seconds=40))):
        beacon.beat(name, now, beat, position=1, round_at=beat, failed_rounds=0, error=None)
    assert samples(container, "scheduler_dispatchers", now) == {
        "running": 1.0,
        "starting": 0.0,
        "failing": 0.0,
        "stale": 1.0,
        "stopped": 0.0,
    }


def test_a_recorded_misfire_is_the_tasks_last_misfire_time(container: Container) -> None:
    now = container.clock.now()
    ctx = CommandContext("tester", now, uuid.uuid4())
    task = validate_spec({"name": "nightly", "command": "true", "schedule": "0 2 * * *"})
    task_id = container.app.create_task(task, ctx).aggregate_id
    assert samples(container, "scheduler_task_last_misfire_timestamp_seconds", now) == {}
    first, later = now - timedelta(days=2), now - timedelta(days=1)
    container.app.fire_cron([], [(task_id, first, later, 2, "misfire")], "dispatcher", now)
    for runner in container.runners:
        runner.catch_up()
    misfires = samples(container, "scheduler_task_last_misfire_timestamp_seconds", now)
    assert misfires == {"nightly": now.timestamp()}


def test_only_recent_misfires_are_exported_and_at_most_the_newest_hundred() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def row(name: str, minutes_ago: float) -> dict[str, object]:
        decided = (now - timedelta(minutes=minutes_ago)).isoformat()
        return {"name": name, "last_misfire": json.dumps({"decided_at": decided})}

    rows = [row(f"t{i}", i * 0.5) for i in range(150)]  # t0 newest … t149 74.5 min ago
    rows += [row("old", 61), {"name": "broken", "last_misfire": "{not json"}]

    recent = recent_misfires(rows, now)

    assert [name for name, _ in recent] == [f"t{i}" for i in range(100)]
    assert recent[0][1] == now
