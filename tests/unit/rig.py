"""A dispatcher and the pieces around it on the in-memory store and bus, driven step by step."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from adapters.memory_bus import InMemoryBus
from application.commands.app import SchedulerApp
from application.dispatch.board import DispatchBoard
from application.dispatch.dispatcher import Dispatcher
from application.dispatch.liveness import InMemoryLiveness
from application.dispatch.policy import DispatchPolicy
from application.ports import FakeClock, Wakeup
from domain.context import CommandContext
from domain.task_run import TaskRun
from domain.task_spec import TaskSpec, validate_spec
from domain.worker import Worker, WorkerProfile


def make_spec(**overrides: object) -> TaskSpec:
    """A valid task definition with overrides."""
    return validate_spec({"name": "nightly", "command": "echo hi", **overrides})


class Rig:
    """A dispatcher and the pieces around it, driven step by step."""

    def __init__(self, app: SchedulerApp, clock: FakeClock) -> None:
        self.app, self.clock = app, clock
        self.bus = InMemoryBus()
        self.liveness = InMemoryLiveness()
        self.ticks = 0.0
        self.dispatcher = Dispatcher(
            app,
            self.bus,
            self.liveness,
            clock,
            Wakeup(),
            policy=DispatchPolicy(
                lease_seconds=10,
                deadline_grace_seconds=5,
                republish_after_seconds=3,
                max_recoveries=1,
                maintenance_interval=0,
            ),
            monotonic=lambda: self.ticks,
            aggregate_log=self.aggregate_log,
        )
        self.dispatcher.live = True

    def aggregate_log(self, aggregate_id: object) -> list[tuple[int, object]]:
        """One aggregate's events with their positions (the in-memory store has no index)."""
        return [
            (p, e) for p, e in self.app.read_log(0, 1_000_000) if e.originator_id == aggregate_id
        ]

    def ctx(self) -> CommandContext:
        return CommandContext("op", self.clock.now(), uuid.uuid4())

    def worker(self, name: str, capacity: int = 2) -> uuid.UUID:
        worker_id = uuid.uuid4()
        self.app.register_worker_once(
            worker_id,
            {"name": name, "executors": ["shell"], "max_concurrent_tasks": capacity},
            self.ctx(),
        )
        self.beat(worker_id)
        return worker_id

    def beat(self, worker_id: uuid.UUID, running: tuple = ()) -> None:
        self.liveness.beat(worker_id, self.clock.now(), running)

    def trigger(self, name: str = "t", **spec: object) -> uuid.UUID:
        task_id = (
            self.app.task_id_for_name(name)
            or self.app.create_task(make_spec(name=name, **spec), self.ctx()).aggregate_id
        )
        return self.app.trigger_task(task_id, self.ctx()).aggregate_id

    def inbox(self, worker_id: uuid.UUID) -> list:
        return self.bus.receive_inbox(worker_id, 100, 0)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.ticks += seconds


class BoardLog:
    """Aggregates' new events applied to a board in order, with positions."""

    def __init__(self, at: datetime) -> None:
        self.board = DispatchBoard()
        self.position = 0
        self.ctx = CommandContext("test", at, uuid.uuid4())

    def apply(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                self.position += 1
                self.board.apply(self.position, event)

    def worker(self, name: str = "w") -> Worker:
        profile = WorkerProfile(
            name=name, hostname="box", executors=["shell"], max_concurrent_tasks=2
        )
        worker = Worker.register(uuid.uuid4(), profile, self.ctx)
        self.apply(worker)
        return worker

    def run(self, **task: Any) -> TaskRun:
        run = TaskRun.request(
            uuid.uuid4(),
            task_id=uuid.uuid4(),
            task_version=1,
            task={"name": "t", "executor": "shell", "command": "true", **task},
            trigger="manual",
            ctx=self.ctx,
        )
        self.apply(run)
        return run
