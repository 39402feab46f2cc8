"""Leases judge a worker's silence only over the time its dispatcher was listening."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from uuid import uuid4

from application.dispatch.liveness import (
    HEARTBEATS_PER_READ,
    InMemoryLiveness,
    Leases,
    collect_heartbeats,
)
from application.messages import Heartbeat
from application.ports import FakeClock

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_without_a_collector_the_clock_judges() -> None:
    clock, store, worker = FakeClock(START), InMemoryLiveness(), uuid4()
    leases = Leases(store, clock, lease_seconds=1.5)
    store.beat(worker, clock.now())
    clock.advance(1.4)
    assert not leases.expired(worker)
    clock.advance(0.2)
    assert leases.expired(worker)


def test_a_stalled_collector_does_not_count_its_own_gap_as_the_workers_silence() -> None:
    clock, store, worker = FakeClock(START), InMemoryLiveness(), uuid4()
    leases = Leases(store, clock, lease_seconds=1.5)
    store.beat(worker, clock.now())
    store.listened(clock.now())
    clock.advance(10)  # the collector heard nothing more: it was not scheduled, or deaf
    assert not leases.expired(worker)
    # It catches up: the worker's beats from the gap arrive, and it is alive.
    store.beat(worker, clock.now())
    store.listened(clock.now())
    assert not leases.expired(worker)
    # Truly silent while the collector listens: lost once the lease has passed.
    clock.advance(1.0)
    store.listened(clock.now())
    assert not leases.expired(worker)
    clock.advance(1.0)
    store.listened(clock.now())
    assert leases.expired(worker)


def test_heard_through_never_moves_back() -> None:
    store = InMemoryLiveness()
    store.listened(START.replace(minute=5))
    store.listened(START)
    assert store.heard_through() == START.replace(minute=5)


class _Listener:
    def __init__(self, answers: list[list[Heartbeat] | Exception], stop: threading.Event) -> None:
        self.answers, self.stop = answers, stop

    def receive(self, max_count: int, timeout: float) -> list[Heartbeat]:
        answer = self.answers.pop(0)
        if not self.answers:
            self.stop.set()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass


class _Bus:
    def __init__(self, listener: _Listener) -> None:
        self.listener = listener

    def heartbeat_listener(self) -> _Listener:
        return self.listener


def _collect(answers: list[list[Heartbeat] | Exception]) -> InMemoryLiveness:
    stop, store = threading.Event(), InMemoryLiveness()
    collect_heartbeats(_Bus(_Listener(answers, stop)), store, FakeClock(START), stop)
    return store


def test_the_collector_says_it_heard_through_a_read_only_when_it_drained_the_stream() -> None:
    beat = Heartbeat(worker_id=uuid4())
    assert _collect([[beat] * HEARTBEATS_PER_READ]).heard_through() is None
    assert _collect([[beat]]).heard_through() == START
    assert _collect([[]]).heard_through() == START


def test_a_bus_it_cannot_read_is_not_heard_through() -> None:
    assert _collect([ConnectionError("down")]).heard_through() is None
