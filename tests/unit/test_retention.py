"""Retention decisions: the window as an event, the runs it removes, backfills it refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.archive.keeper import RetentionKeeper
from application.archive.ports import Removal
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


class FilesOnly:
    """A live store that removes nothing and creates no ranges (as SQLite's)."""

    removes = False

    def __init__(self) -> None:
        self.kept_ahead = 0

    def horizon_at_or_below(self, position: int) -> int:
        return position

    def consumer_floor(self) -> int:
        return 0

    def remove_archived(self, horizon: int, ids: set, keep: bool) -> Removal:
        raise AssertionError("never asked to remove")

    def keep_ahead(self) -> list[str]:
        self.kept_ahead += 1
        return []

    def live_bytes(self) -> int | None:
        return None


def test_the_keeper_records_the_window_on_its_clock_and_keeps_ranges_ahead(rig: Rig) -> None:
    live = FilesOnly()
    keeper = RetentionKeeper(rig.app, live, rig.clock, "dispatcher-1", 48, 3600)
    keeper.once()
    rig.clock.advance(3600)
    keeper.once()
    applied = [e for _, e in rig.app.read_log(0, 100) if isinstance(e, Retention.Applied)]
    assert [e.cutoff for e in applied] == [
        rig.clock.now() - timedelta(hours=49),
        rig.clock.now() - timedelta(hours=48),
    ]
    assert {e.metadata["actor"] for e in applied} == {"dispatcher-1"}
    assert live.kept_ahead == 2
