"""One contract for every bus adapter, run against the real servers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from application.bus import Bus
from application.messages import Control, Delivery, Heartbeat, Report
from tests.bus_factories import BUS_KINDS, open_bus


@pytest.fixture(params=BUS_KINDS)
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    """A fresh bus of each kind, namespaced for this test and cleaned up after."""
    with open_bus(request.param) as opened:
        yield opened


def delivery(worker: uuid.UUID, attempt: int = 1) -> Delivery:
    return Delivery(
        run_id=uuid.uuid4(),
        attempt=attempt,
        worker_id=worker,
        task_name="t",
        executor="shell",
        command="true",
        args=("a",),
        env={"K": "V"},
        params={"P": "1"},
    )


def receive_until(fetch, count: int, timeout: float = 5.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += fetch()
    return got


def test_deliveries_and_controls_reach_only_their_worker_in_order(bus: Bus) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    sent = [delivery(alice), delivery(alice, 2)]
    for message in sent:
        bus.publish_delivery(message)
    bus.publish_control(Control("recorded", alice, sent[0].run_id, 1))
    bus.publish_delivery(delivery(bob))
    got = receive_until(lambda: bus.receive_inbox(alice, 10, 0.5), 3)
    assert got == [*sent, Control("recorded", alice, sent[0].run_id, 1)]
    assert [m.worker_id for m in receive_until(lambda: bus.receive_inbox(bob, 10, 0.5), 1)] == [bob]


def test_reports_stay_pending_until_acknowledged(bus: Bus) -> None:
    worker = uuid.uuid4()
    reports = [
        Report("started", uuid.uuid4(), 1, worker, pid=12),
        Report("failed", uuid.uuid4(), 2, worker, exit_code=3, error="boom", output="x" * 100),
        Report("registered", None, 0, worker, profile={"name": "w", "executors": ["shell"]}),
    ]
    for report in reports:
        bus.publish_report(report)
    received = receive_until(lambda: bus.receive_reports("d1", 10, 0.5), 3)
    assert [r.message for r in received] == reports
    bus.ack_reports([r.token for r in received])
    assert bus.receive_reports("d1", 10, 0.3) == []


def test_every_heartbeat_listener_sees_every_heartbeat(bus: Bus) -> None:
    first, second = bus.heartbeat_listener(), bus.heartbeat_listener()
    try:
        beat = Heartbeat(uuid.uuid4(), "w1", running=((uuid.uuid4(), 2),), draining=True)
        bus.publish_heartbeat(beat)
        assert receive_until(lambda: first.receive(10, 0.5), 1) == [beat]
        assert receive_until(lambda: second.receive(10, 0.5), 1) == [beat]
    finally:
        first.close()
        second.close()


def test_a_dropped_inbox_is_empty(bus: Bus) -> None:
    worker = uuid.uuid4()
    bus.publish_delivery(delivery(worker))
    bus.drop_inbox(worker)
    assert bus.receive_inbox(worker, 10, 0.2) == []


def test_ping_answers(bus: Bus) -> None:
    bus.ping()


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_an_unreadable_message_is_moved_aside_and_stops_nothing(kind: str) -> None:
    with open_bus(kind) as opened:
        bus: Any = opened
        worker = uuid.uuid4()
        bus.receive_reports("d1", 10, timeout=0)  # the consumer group exists
        garbage = {"kind": "succeeded", "run_id": "not-a-uuid", "attempt": "one"}
        if kind == "redis":
            bus._add(bus._reports, garbage, 100)
            bus._add(bus.inbox_key(worker), {"type": "nonsense"}, 100)
        else:
            bus._run(bus._publish(bus._reports, garbage))
            bus._run(bus._publish(bus.inbox_key(worker), {"type": "nonsense"}))
        good = Report("started", uuid.uuid4(), 1, worker, pid=1)
        bus.publish_report(good)
        bus.publish_delivery(delivery(worker))
        reports = receive_until(lambda: bus.receive_reports("d1", 10, timeout=0.5), 1)
        assert [r.message.run_id for r in reports] == [good.run_id]
        bus.ack_reports([r.token for r in reports])
        inbox = receive_until(lambda: bus.receive_inbox(worker, 10, 0.5), 1)
        assert [type(m).__name__ for m in inbox] == ["Delivery"]
        dead = bus.dead_letters()
        assert len(dead) == 2 and all(d["error"] for d in dead)
        assert any("not-a-uuid" in d["m"] for d in dead)
        # Nothing comes back: not re-delivered, not reclaimed.
        assert bus.receive_reports("d2", 10, timeout=0.5) == []


def test_a_batch_of_inbox_messages_reaches_each_worker_in_order(bus: Bus) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    batch = [
        delivery(alice),
        delivery(bob),
        Control("cancel", alice, uuid.uuid4(), 1),
        delivery(alice, 2),
    ]
    bus.publish_inbox_messages(batch)
    bus.publish_inbox_messages([])  # nothing to send is not an error
    assert receive_until(lambda: bus.receive_inbox(alice, 10, 0.5), 3) == [
        batch[0],
        batch[2],
        batch[3],
    ]
    assert receive_until(lambda: bus.receive_inbox(bob, 10, 0.5), 1) == [batch[1]]


def test_a_batch_of_reports_arrives_in_order_and_is_acknowledged_at_once(bus: Bus) -> None:
    worker = uuid.uuid4()
    reports = [Report("succeeded", uuid.uuid4(), 1, worker, output=str(i)) for i in range(250)]
    bus.publish_reports(reports[:1])
    bus.publish_reports(reports[1:])
    bus.publish_reports([])

    def take_and_ack() -> list:
        # Acknowledged a batch at a time: a broker may hold back more than its prefetch.
        batch = bus.receive_reports("d1", 100, 0.5)
        bus.ack_reports([r.token for r in batch])
        return batch

    received = receive_until(take_and_ack, 250)
    assert [r.message for r in received] == reports
    assert bus.receive_reports("d1", 10, 0.3) == []


def test_log_lines_are_taken_once_each_oldest_first(bus: Bus) -> None:
    logs: Any = bus  # every adapter also carries log lines (entrypoints/logging_setup.py)
    logs.publish_logs([{"message": "one"}, {"message": "two"}])
    logs.publish_logs([{"message": "three"}])

    got = receive_until(lambda: logs.take_logs(10), 3)

    assert [line["message"] for line in got] == ["one", "two", "three"]
    assert logs.take_logs(10) == []
