"""What the dispatch board holds: an open run and a worker slot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.namespace import DEFAULT_NAMESPACE, covers, namespace_of


@dataclass
class OpenRun:
    """A run the dispatcher still has to act on: pending, or out on a worker."""

    run_id: UUID
    task_id: UUID
    position: int
    priority_rank: int
    task: dict[str, Any]
    params: dict[str, Any]  # as stored: secret ones sealed
    requested_at: datetime
    trigger: str = "manual"
    wait_code: str | None = None  # the last recorded reason it is not going out
    worker_id: UUID | None = None
    attempt: int = 0
    started_at: datetime | None = None
    retry_at: datetime | None = None  # a failed attempt waits until then
    parent_run_id: UUID | None = None  # set on a shard of a broadcast run
    target_worker_id: UUID | None = None  # the worker a shard was meant for
    shard: tuple[int, int] | None = None  # (index, total) of a shard
    fanned_out: bool = False  # a broadcast run whose shards do the work
    traceparent: str | None = None  # the trace its request began (event metadata)

    def sort_key(self) -> tuple[int, int]:
        """Highest priority first, then first come first served."""
        return (-self.priority_rank, self.position)


@dataclass
class WorkerSlot:
    """What the dispatcher knows of a worker: capabilities, status and the runs it holds."""

    worker_id: UUID
    name: str
    executors: frozenset[str]
    queues: frozenset[str]
    labels: dict[str, str]
    capacity: int
    status: str = "active"
    running: set[UUID] = field(default_factory=set)
    namespaces: frozenset[str] = frozenset({DEFAULT_NAMESPACE})  # {"*"}: every namespace

    def accepts(self, task: dict[str, Any]) -> bool:
        """Whether this worker can run the task at all."""
        labels = task.get("labels") or {}
        return (
            covers(self.namespaces, namespace_of(task))
            and task.get("executor") in self.executors
            and task.get("queue", "default") in self.queues
            and all(self.labels.get(k) == v for k, v in labels.items())
        )

    @property
    def free(self) -> int:
        """How many more runs it can take now."""
        return self.capacity - len(self.running)

    @property
    def load(self) -> float:
        """The share of its capacity in use."""
        return len(self.running) / self.capacity
