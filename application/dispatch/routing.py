"""Routing strategies: which eligible worker gets a run (`routing_strategy` of the task)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar
from uuid import UUID


class Candidate(Protocol):
    """What routing needs to know of a worker."""

    worker_id: UUID
    name: str
    capacity: int

    @property
    def free(self) -> int: ...

    @property
    def load(self) -> float: ...


C = TypeVar("C", bound=Candidate)


class RoundRobin:
    """Remembers, per task, which worker came last."""

    def __init__(self) -> None:
        self._last: dict[UUID, UUID] = {}

    def pick(self, task_id: UUID, ordered: Sequence[C]) -> C | None:
        """The next worker with room after the one used last for this task."""
        with_room = [w for w in ordered if w.free > 0]
        if not with_room:
            return None
        last = self._last.get(task_id)
        ids = [w.worker_id for w in ordered]
        start = ids.index(last) + 1 if last in ids else 0
        rotated = list(ordered[start:]) + list(ordered[:start])
        chosen = next(w for w in rotated if w.free > 0)
        self._last[task_id] = chosen.worker_id
        return chosen


def rendezvous_score(task_id: UUID, worker_id: UUID) -> int:
    """Highest-random-weight hashing: stable per (task, worker), so adding or losing a
    worker only moves the tasks that were on it."""
    digest = hashlib.blake2b(task_id.bytes + worker_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big")


def choose_worker(
    strategy: str,
    task_id: UUID,
    eligible: Sequence[C],
    round_robin: RoundRobin,
    draw: Callable[[], float],
) -> C | None:
    """The worker for one run among live, eligible workers; None means the run waits."""
    if not eligible:
        return None
    ordered = sorted(eligible, key=lambda w: (w.name, str(w.worker_id)))
    with_room = [w for w in ordered if w.free > 0]
    if strategy == "round_robin":
        return round_robin.pick(task_id, ordered)
    if strategy == "random":
        return (
            with_room[min(int(draw() * len(with_room)), len(with_room) - 1)] if with_room else None
        )
    if strategy == "consistent_hash":
        # The task's own worker, even when busy: it waits rather than moving.
        home = max(ordered, key=lambda w: rendezvous_score(task_id, w.worker_id))
        return home if home.free > 0 else None
    if strategy == "failover":
        primary = ordered[0]  # the first live worker in a stable order
        return primary if primary.free > 0 else None
    # least_loaded (the default) and anything unknown
    return min(with_room, key=lambda w: (w.load, w.name, str(w.worker_id))) if with_room else None
