"""The worker agent over the in-memory bus, with a fake executor (no processes)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from adapters.memory_bus import InMemoryBus
from application.messages import Control, Delivery, Report
from application.worker_agent import WorkerAgent, WorkerProfile


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None = 0
    output: str = "ok"
    error: str | None = None
    duration_seconds: float = 0.01

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


class FakeExecutor:
    """Counts executions; each waits until released so concurrency can be observed."""

    def __init__(self) -> None:
        self.executed: list[tuple[uuid.UUID, int]] = []
        self.cancelled: list[tuple[uuid.UUID, int]] = []
        self.release = threading.Event()
        self.peak = 0
        self._now = 0
        self._lock = threading.Lock()

    def execute(
        self, delivery: Delivery, on_started: Callable[[int], None], on_output: object = None
    ) -> Outcome:
        with self._lock:
            self.executed.append((delivery.run_id, delivery.attempt))
            self._now += 1
            self.peak = max(self.peak, self._now)
        on_started(1234)
        self.release.wait(5)
        with self._lock:
            self._now -= 1
        return Outcome()

    def cancel(self, run_id: uuid.UUID, attempt: int) -> bool:
        self.cancelled.append((run_id, attempt))
        return True

    def cancel_all(self) -> int:
        return 0


def delivery(worker_id: uuid.UUID, run_id: uuid.UUID | None = None) -> Delivery:
    return Delivery(run_id or uuid.uuid4(), 1, worker_id, "t", "shell", "true")


def reports(bus: InMemoryBus) -> list[Report]:
    return [r.message for r in bus.receive_reports("test", 1000, 0)]


def start(bus: InMemoryBus, executor: FakeExecutor, capacity: int = 2):
    agent = WorkerAgent(
        WorkerProfile("w", "h", ["shell"], max_concurrent_tasks=capacity),
        bus,
        executor,
        heartbeat_interval=0.05,
        poll_interval=0.02,
    )
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run_forever, args=(stop, 1.0), daemon=True)
    thread.start()
    return agent, stop, thread


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_duplicated_delivery_runs_once_and_repeats_the_latest_report() -> None:
    bus, executor = InMemoryBus(), FakeExecutor()
    agent, stop, thread = start(bus, executor)
    run_id = uuid.uuid4()
    bus.publish_delivery(delivery(agent.worker_id, run_id))
    wait_for(lambda: executor.executed)
    bus.publish_delivery(delivery(agent.worker_id, run_id))
    executor.release.set()
    wait_for(lambda: agent.running == 0)
    kinds: list[str] = []

    def repeated() -> bool:  # started and succeeded, then the latest again for the redelivery
        received = bus.receive_reports("test", 1000, 0)
        bus.ack_reports([r.token for r in received])
        kinds.extend(r.message.kind for r in received if r.message.run_id == run_id)
        return len(kinds) >= 3

    wait_for(repeated)
    assert executor.executed == [(run_id, 1)]
    stop.set()
    thread.join(5)


def test_it_never_runs_more_than_its_capacity() -> None:
    bus, executor = InMemoryBus(), FakeExecutor()
    agent, stop, thread = start(bus, executor, capacity=2)
    for _ in range(6):
        bus.publish_delivery(delivery(agent.worker_id))
    wait_for(lambda: len(executor.executed) == 2)
    time.sleep(0.1)
    assert executor.peak == 2
    executor.release.set()
    wait_for(lambda: len(executor.executed) == 6)
    stop.set()
    thread.join(5)


def test_final_reports_are_resent_until_the_dispatcher_confirms_them() -> None:
    bus, executor = InMemoryBus(), FakeExecutor()
    executor.release.set()
    import application.worker_agent as module

    original, module.RESEND_AFTER_SECONDS = module.RESEND_AFTER_SECONDS, 0.05
    try:
        agent, stop, thread = start(bus, executor)
        run_id = uuid.uuid4()
        bus.publish_delivery(delivery(agent.worker_id, run_id))
        wait_for(lambda: sum(r.kind == "succeeded" for r in reports(bus)) >= 1)
        wait_for(lambda: sum(r.kind == "succeeded" for r in reports(bus)) >= 1)  # resent
        bus.publish_control(Control("recorded", agent.worker_id, run_id, 1))
        time.sleep(0.2)
        reports(bus)
        time.sleep(0.3)
        assert not [r for r in reports(bus) if r.kind == "succeeded"]
        stop.set()
        thread.join(5)
    finally:
        module.RESEND_AFTER_SECONDS = original


def test_a_drain_control_makes_it_finish_and_deregister() -> None:
    bus, executor = InMemoryBus(), FakeExecutor()
    agent, _stop, thread = start(bus, executor)
    bus.publish_delivery(delivery(agent.worker_id))
    wait_for(lambda: executor.executed)
    bus.publish_control(Control("drain", agent.worker_id))
    bus.publish_delivery(delivery(agent.worker_id))
    time.sleep(0.1)
    executor.release.set()
    thread.join(5)
    assert not thread.is_alive()
    assert len(executor.executed) == 1, "no new work while draining"
    kinds = [r.kind for r in reports(bus)]
    assert "draining" in kinds and kinds[-1] == "deregistered"


def test_a_cancel_control_reaches_the_executor() -> None:
    bus, executor = InMemoryBus(), FakeExecutor()
    agent, stop, thread = start(bus, executor)
    run_id = uuid.uuid4()
    bus.publish_control(Control("cancel", agent.worker_id, run_id, 3))
    wait_for(lambda: executor.cancelled == [(run_id, 3)])
    executor.release.set()
    stop.set()
    thread.join(5)
