"""Quarantine in the in-memory consumers: one bad aggregate is held, everything else goes on."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from application.dispatch.books import BACKFILLS, BOARD, CRON, DEPENDENCIES, FAILURES, SCHEDULES
from application.messages import Delivery
from application.quarantine import (
    HELD,
    RELEASE,
    RELEASED,
    RESOLVED,
    RETRY,
    GuardedConsumer,
    InMemoryQuarantineLedger,
    UndecodableEvent,
)
from application.task_numbers import TaskNumbers
from domain.errors import NotFoundError
from domain.task_run import RunStatus
from tests import poison
from tests.unit.conftest import START
from tests.unit.rig import Rig, make_spec


class Event:
    """A stand-in event: only originator_id and a payload."""

    def __init__(self, key: str, value: int) -> None:
        self.originator_id, self.value = key, value


def guarded(ledger: InMemoryQuarantineLedger, log: list[tuple[int, Event]]) -> Any:
    applied: list[tuple[str, int]] = []
    bad: set[int] = {13}

    def apply(position: int, event: Event) -> None:
        if event.value in bad:
            raise ValueError(f"cannot take {event.value}")
        applied.append((event.originator_id, event.value))

    def aggregate_log(key: object) -> list[tuple[int, Event]]:
        return [(p, e) for p, e in log if e.originator_id == key]

    guard = GuardedConsumer("test", apply, ledger, lambda: START, aggregate_log)
    return guard, applied, bad


def test_a_failing_event_holds_its_aggregate_and_every_other_goes_on() -> None:
    ledger = InMemoryQuarantineLedger()
    log = [(1, Event("a", 1)), (2, Event("b", 13)), (3, Event("a", 2)), (4, Event("b", 3))]
    guard, applied, _bad = guarded(ledger, log)
    for position, event in log:
        guard.apply(position, event)
    guard.flush()
    assert applied == [("a", 1), ("a", 2)]
    [entry] = ledger.entries("test")
    assert (entry.aggregate_id, entry.position, entry.held_count, entry.last_position) == (
        "b",
        2,
        2,
        4,
    )
    assert "cannot take 13" in entry.error and entry.status == HELD


def test_a_retry_after_the_cause_is_fixed_applies_the_held_events_in_order() -> None:
    ledger = InMemoryQuarantineLedger()
    log = [(1, Event("b", 13)), (2, Event("b", 3)), (3, Event("c", 4))]
    guard, applied, bad = guarded(ledger, log)
    for position, event in log:
        guard.apply(position, event)
    ledger.request("b", RETRY, 3, START)
    assert guard.handle_requests() == 1  # still failing: held again, with the error
    assert ledger.entries("test")[0].request is None and applied == [("c", 4)]
    bad.clear()  # the cause is fixed (say, a new release)
    ledger.request("b", RETRY, 3, START)
    guard.handle_requests()
    assert applied == [("c", 4), ("b", 13), ("b", 3)]
    assert ledger.entries("test", statuses=None)[0].status == RESOLVED
    guard.apply(4, Event("b", 5))
    assert applied[-1] == ("b", 5)  # no longer held


def test_a_release_gives_up_up_to_the_head_and_survives_a_restart() -> None:
    ledger = InMemoryQuarantineLedger()
    log = [(1, Event("b", 13)), (2, Event("b", 3))]
    guard, applied, _bad = guarded(ledger, log)
    for position, event in log:
        guard.apply(position, event)
    ledger.request("b", RELEASE, 2, START)
    guard.handle_requests()
    guard.apply(3, Event("b", 4))
    assert applied == [("b", 4)]
    assert ledger.entries("test", statuses=None)[0].status == RELEASED
    restarted, replayed, _ = guarded(ledger, log)
    restarted.load()
    for position, event in [*log, (3, Event("b", 4))]:
        restarted.apply(position, event)
    assert replayed == [("b", 4)] and not restarted.held


def test_a_restart_does_not_record_the_same_failure_twice() -> None:
    ledger = InMemoryQuarantineLedger()
    log = [(1, Event("b", 13))]
    for _ in range(2):
        guard, _applied, _bad = guarded(ledger, log)
        guard.load()
        guard.apply(1, log[0][1])
    assert ledger.entries("test")[0].failures == 1


def test_a_run_with_an_unusable_definition_is_held_and_others_still_go_out(rig: Rig) -> None:
    worker = rig.worker("w", capacity=4)
    healthy = rig.trigger("ok")
    task_id = rig.app.get_run(healthy).task_id
    bad = poison.wrong_type_run(rig.app, task_id, at=rig.clock.now())
    other = rig.trigger("ok")
    rig.dispatcher.step()
    delivered = {m.run_id for m in rig.inbox(worker) if isinstance(m, Delivery)}
    assert delivered == {healthy, other}
    [entry] = rig.dispatcher.quarantine.entries(BOARD)
    assert entry.aggregate_id == str(bad) and "definition unusable" in entry.error
    # Repair through the write side, then give up on the held events.
    rig.app.cancel_run(bad, "bad definition", rig.ctx())
    rig.dispatcher.step()
    rig.dispatcher.quarantine.request(str(bad), RELEASE, rig.app.head_position(), START)
    rig.dispatcher.maintain()
    assert rig.dispatcher.quarantine.entries(BOARD) == []
    assert rig.app.get_run(bad).status is RunStatus.CANCELLED


def test_an_undecodable_event_is_held_by_every_book_and_stops_nothing(rig: Rig) -> None:
    worker = rig.worker("w")
    bad = poison.undecodable_state(rig.app)
    [(_, event)] = [(p, e) for p, e in rig.app.read_log(0, 100) if e.originator_id == bad]
    assert isinstance(event, UndecodableEvent) and "TaskRun.Requested" in event.topic
    run_id = rig.trigger()
    rig.dispatcher.step()
    assert [m.run_id for m in rig.inbox(worker) if isinstance(m, Delivery)] == [run_id]
    held = {(e.consumer, e.aggregate_id) for e in rig.dispatcher.quarantine.entries()}
    consumers = (BOARD, CRON, DEPENDENCIES, BACKFILLS, FAILURES)
    assert held == {(consumer, str(bad)) for consumer in consumers}


def test_an_impossible_schedule_blocks_its_task_alone_until_it_is_corrected(rig: Rig) -> None:
    rig.worker("w", capacity=10)
    spec = make_spec(name="every-second", schedule="* * * * * *")
    fine = rig.app.create_task(spec, rig.ctx()).aggregate_id
    bad = poison.impossible_schedule(rig.app, "feb-31", at=rig.clock.now())
    rig.dispatcher.step()
    rig.advance(3)
    rig.dispatcher.step()
    fired = {e.task_id for _, e in rig.app.read_log(0, 1_000) if hasattr(e, "nominal_time")}
    assert fired == {fine}
    [entry] = rig.dispatcher.quarantine.entries(SCHEDULES)
    assert entry.aggregate_id == str(bad) and "cannot be evaluated" in entry.error
    rig.app.update_task(bad, {"schedule": "*/2 * * * * *"}, rig.ctx())
    rig.dispatcher.step()
    assert rig.dispatcher.quarantine.entries(SCHEDULES) == []
    rig.advance(3)
    rig.dispatcher.step()
    fired = {e.task_id for _, e in rig.app.read_log(0, 1_000) if hasattr(e, "nominal_time")}
    assert fired == {fine, bad}


def test_task_numbers_follow_creation_order_in_the_log() -> None:
    rows: list[tuple[int, Any]] = []
    numbers = TaskNumbers(lambda after, limit: [r for r in rows if r[0] > after][:limit])
    first, second = uuid.uuid4(), uuid.uuid4()
    rows.append((3, first))
    assert numbers.id_for(1) == first and numbers.id_for(2) is None
    rows.append((9, second))
    assert numbers.id_for(2) == second and numbers.number_of(second) == 2
    assert numbers.id_for(0) is None and numbers.number_of(uuid.uuid4()) is None


def test_commands_resolve_numbers_names_and_uuids_from_the_write_side(rig: Rig) -> None:
    rig.trigger("first")
    bad = poison.impossible_schedule(rig.app, "second")  # no view involved at all
    assert rig.app.resolve_task_ref("2") == bad
    assert rig.app.resolve_task_ref("second") == bad
    assert rig.app.resolve_task_ref(str(bad)) == bad
    assert rig.app.task_number(bad) == 2
    for missing in ("3", "9" * 40, "nobody", str(uuid.uuid4()), "²"):
        try:
            rig.app.resolve_task_ref(missing)
        except NotFoundError:
            continue
        raise AssertionError(f"{missing!r} resolved")


def test_a_dispatcher_beats_while_it_runs(rig: Rig) -> None:
    beats: list[dict[str, Any]] = []

    class Beacon:
        def beat(self, name: str, started_at: Any, at: Any, **fields: Any) -> None:
            beats.append({"name": name, **fields})

        def stopped(self, name: str, at: Any) -> None:
            beats.append({"name": name, "stopped": True})

    rig.dispatcher.health.beacon = Beacon()
    rig.dispatcher.health.round_done(None)
    rig.advance(2)
    rig.dispatcher.health.round_done(RuntimeError("database down"))
    assert beats[0]["failed_rounds"] == 0 and beats[0]["round_at"] is not None
    assert beats[-1]["failed_rounds"] == 1 and "database down" in beats[-1]["error"]
    assert START + timedelta(seconds=2) == rig.clock.now()
