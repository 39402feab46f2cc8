"""Retention decisions: the window as an event, the runs it removes, backfills it refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import InvalidFieldError
from domain.retention import RETENTION_ID, Retention
from tests.unit.rig import Rig, make_spec


def manifest(cutoff: str) -> dict[str, object]:
    return {
        "sequence": 1,
        "file": "000001.jsonl.gz",
        "horizon": 1000,
        "cutoff": cutoff,
        "events": 4,
        "aggregates": 1,
        "first_position": 1,
        "last_position": 4,
        "sha256": "ab" * 32,
        "previous_sha256": "0" * 64,
    }


def test_a_window_is_recorded_once_per_later_cutoff(rig: Rig) -> None:
    cutoff = rig.clock.now() - timedelta(hours=24)
    rig.app.apply_retention(cutoff, 24, rig.ctx())
    rig.app.apply_retention(cutoff, 24, rig.ctx())  # not later: nothing recorded
    rig.app.apply_retention(cutoff + timedelta(hours=1), 24, rig.ctx())
    events = [type(e) for e in rig.app.repository.get(RETENTION_ID).collect_events()]
    stored = [type(e) for _, e in rig.app.read_log(0, 100) if e.originator_id == RETENTION_ID]
    assert events == []
    assert stored == [Retention.Created, Retention.Applied, Retention.Applied]


def test_a_backfill_before_the_archived_cutoff_is_refused_naming_why(rig: Rig) -> None:
    task = rig.app.create_task(make_spec(name="hourly", schedule="0 * * * *"), rig.ctx())
    cutoff = (rig.clock.now() - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    rig.app.record_archive(manifest(cutoff.isoformat()), rig.ctx())
    assert rig.app.archived_before() == cutoff
    early = (cutoff - timedelta(hours=3), cutoff + timedelta(hours=1))
    with pytest.raises(InvalidFieldError, match="archived") as refused:
        rig.app.start_backfill(task.aggregate_id, early, 1, "allow", rig.ctx())
    assert refused.value.field == "from"
    with pytest.raises(InvalidFieldError, match="archived"):
        rig.app.preview_backfill(task.aggregate_id, *early, rig.clock.now())
    later = (cutoff, cutoff + timedelta(hours=2))
    assert rig.app.start_backfill(task.aggregate_id, later, 1, "allow", rig.ctx()).position
