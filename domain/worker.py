"""The Worker aggregate: a process that runs tasks; heartbeats are leases, not events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError
from domain.namespace import DEFAULT_NAMESPACE, checked_namespaces
from domain.statuses import WORKER_LEFT, WorkerStatus

DEFAULT_SERVED = (DEFAULT_NAMESPACE,)  # what a worker serves unless configured otherwise


@dataclass(frozen=True)
class WorkerProfile:
    """What a worker says about itself when it joins: who it is and what it can run."""

    name: str
    hostname: str
    executors: Sequence[str]
    queues: Sequence[str] = ("default",)
    labels: Mapping[str, str] = field(default_factory=dict)
    max_concurrent_tasks: int = 5
    namespaces: Sequence[str] = (DEFAULT_NAMESPACE,)  # the namespaces whose runs it takes

    def __post_init__(self) -> None:
        # A value: its sequences are tuples and its labels a copy, whatever it was given.
        object.__setattr__(self, "executors", tuple(self.executors))
        object.__setattr__(self, "queues", tuple(self.queues))
        object.__setattr__(self, "namespaces", tuple(self.namespaces))
        object.__setattr__(self, "labels", dict(self.labels))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], worker_id: UUID) -> WorkerProfile:
        """A profile as a worker sent it; a field it left out takes the value it always had."""
        return cls(
            name=str(data.get("name") or worker_id),
            hostname=str(data.get("hostname") or "unknown"),
            executors=list(data.get("executors") or ["shell"]),
            queues=list(data.get("queues") or ["default"]),
            labels=dict(data.get("labels") or {}),
            max_concurrent_tasks=int(data.get("max_concurrent_tasks") or 1),
            namespaces=list(data.get("namespaces") or [DEFAULT_NAMESPACE]),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as a registration report carries it."""
        return {
            "name": self.name,
            "hostname": self.hostname,
            "executors": list(self.executors),
            "queues": list(self.queues),
            "labels": dict(self.labels),
            "max_concurrent_tasks": self.max_concurrent_tasks,
            # Only when not the default: a default worker's report is what it always was.
            **({"namespaces": list(self.namespaces)} if self.namespaces != DEFAULT_SERVED else {}),
        }


class Worker(SchedulerAggregate):
    """One worker process's membership in the pool."""

    TOPIC = "scheduler:Worker"

    class Created(SchedulerAggregate.Created):
        # Unused: every Worker starts with the named event below.
        TOPIC = "scheduler:Worker.Created"

    class Registered(SchedulerAggregate.Created):
        TOPIC = "scheduler:Worker.Registered"
        status: ClassVar[WorkerStatus] = WorkerStatus.ACTIVE
        class_version = 2
        name: str
        hostname: str
        executors: list[str]
        queues: list[str]
        labels: dict[str, str]
        max_concurrent_tasks: int
        namespaces: list[str]  # ["*"]: every namespace

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 names the namespaces served: a worker from before served the default one."""
            state.setdefault("namespaces", [DEFAULT_NAMESPACE])

        def apply(self, aggregate: Worker) -> None:
            aggregate.namespaces = tuple(self.namespaces)
            aggregate.name = self.name
            aggregate.hostname = self.hostname
            aggregate.executors = tuple(self.executors)
            aggregate.queues = tuple(self.queues)
            aggregate.labels = dict(self.labels)
            aggregate.max_concurrent_tasks = self.max_concurrent_tasks
            aggregate.status = self.status

    class DrainStarted(SchedulerAggregate.Event):
        """The worker takes no new work, finishes what it runs, then leaves."""

        TOPIC = "scheduler:Worker.Draining"  # its name before the past-tense rename
        status: ClassVar[WorkerStatus] = WorkerStatus.DRAINING
        reason: str

        def apply(self, aggregate: Worker) -> None:
            aggregate.status = self.status

    class Lost(SchedulerAggregate.Event):
        TOPIC = "scheduler:Worker.Lost"
        status: ClassVar[WorkerStatus] = WorkerStatus.LOST
        reason: str

        def apply(self, aggregate: Worker) -> None:
            aggregate.status = self.status

    class Deregistered(SchedulerAggregate.Event):
        TOPIC = "scheduler:Worker.Deregistered"
        status: ClassVar[WorkerStatus] = WorkerStatus.GONE
        reason: str

        def apply(self, aggregate: Worker) -> None:
            aggregate.status = self.status

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        name: str
        hostname: str
        executors: tuple[str, ...]
        queues: tuple[str, ...]
        labels: dict[str, str]
        max_concurrent_tasks: int
        namespaces: tuple[str, ...]
        status: WorkerStatus

    @classmethod
    def register(cls, worker_id: UUID, profile: WorkerProfile, ctx: CommandContext) -> Worker:
        """Register a worker with what it can run and how much at once."""
        if not 1 <= len(profile.name) <= 200 or not profile.name.isprintable():
            raise InvalidFieldError("name", "must be 1 to 200 printable characters")
        if not 1 <= profile.max_concurrent_tasks <= 10_000:
            raise InvalidFieldError("max_concurrent_tasks", "must be between 1 and 10000")
        if not profile.executors:
            raise InvalidFieldError("executors", "must name at least one executor")
        namespaces = checked_namespaces(profile.namespaces)
        return cls._create_with(
            cls.Registered,
            worker_id,
            ctx,
            name=profile.name,
            hostname=profile.hostname,
            executors=list(profile.executors),
            queues=list(profile.queues or ["default"]),
            labels=dict(profile.labels),
            max_concurrent_tasks=profile.max_concurrent_tasks,
            namespaces=namespaces,
        )

    def drain(self, reason: str, ctx: CommandContext) -> bool:
        """Take no new work; returns False when already draining (nothing recorded)."""
        if self.status in WORKER_LEFT:
            raise IllegalTransitionError(f"worker {self.name!r}", self.status, "drain")
        if self.status == WorkerStatus.DRAINING:
            return False
        self._record(self.DrainStarted, ctx, reason=reason)
        return True

    def mark_lost(self, reason: str, ctx: CommandContext) -> bool:
        """Its lease expired; returns False when it already left or was lost."""
        if self.status in WORKER_LEFT:
            return False
        self._record(self.Lost, ctx, reason=reason)
        return True

    def deregister(self, reason: str, ctx: CommandContext) -> bool:
        """Leave the pool for good; returns False when already gone."""
        if self.status == WorkerStatus.GONE:
            return False
        self._record(self.Deregistered, ctx, reason=reason)
        return True


# The events that change a worker's status after it joined, each with the status it leaves.
WORKER_STATUS_CHANGES: tuple[type[SchedulerAggregate.Event], ...] = (
    Worker.DrainStarted,
    Worker.Lost,
    Worker.Deregistered,
)
