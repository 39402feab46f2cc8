"""GuardedBus is the Bus port behind one breaker: a bus that is down is not hammered."""

from __future__ import annotations

import uuid

import pytest

from adapters.guarded_bus import GuardedBus
from adapters.memory_bus import InMemoryBus
from application.bus import Bus
from application.circuit_breaker import CircuitBreaker, CircuitOpenError, CircuitState
from application.messages import Control, Delivery, Heartbeat, Report


class DownBus(InMemoryBus):
    """The in-memory bus, but every call that would reach a broker fails."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def publish_report(self, report: Report) -> None:
        self.calls += 1
        raise ConnectionError("broker down")

    def ping(self) -> None:
        self.calls += 1
        raise ConnectionError("broker down")


def test_every_call_of_the_bus_port_reaches_the_bus() -> None:
    bus: Bus = GuardedBus(InMemoryBus(), CircuitBreaker("bus"))
    worker, run = uuid.uuid4(), uuid.uuid4()
    listener = bus.heartbeat_listener()
    delivery = Delivery(run, 1, worker, "t", "shell", "true")
    bus.publish_delivery(delivery)
    bus.publish_control(Control("recorded", worker, run, 1))
    assert bus.receive_inbox(worker, 10, 0) == [delivery, Control("recorded", worker, run, 1)]
    bus.publish_report(Report("started", run, 1, worker))
    [received] = bus.receive_reports("d1", 10, 0)
    bus.ack_reports([received.token])
    bus.publish_heartbeat(Heartbeat(worker, "w"))
    assert listener.receive(10, 0) == [Heartbeat(worker, "w")]
    bus.drop_inbox(worker)
    bus.ping()
    listener.close()
    bus.close()


def test_failures_open_the_breaker_and_then_calls_fail_without_reaching_the_bus() -> None:
    down = DownBus()
    breaker = CircuitBreaker("bus")
    bus = GuardedBus(down, breaker)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            bus.publish_report(Report("started", uuid.uuid4(), 1, uuid.uuid4()))
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        bus.ping()
    assert down.calls == 3
    bus.heartbeat_listener().close()  # local state only: not guarded, works while open
