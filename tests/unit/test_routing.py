"""Routing strategies choose among live, eligible workers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from application.dispatch.routing import RoundRobin, choose_worker

TASK = uuid.UUID(int=1)


@dataclass
class W:
    name: str
    capacity: int = 2
    busy: int = 0
    worker_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def free(self) -> int:
        return self.capacity - self.busy

    @property
    def load(self) -> float:
        return self.busy / self.capacity


def pick(
    strategy: str, workers: list[W], draw: float = 0.0, rr: RoundRobin | None = None
) -> W | None:
    return choose_worker(strategy, TASK, workers, rr or RoundRobin(), lambda: draw)


def test_least_loaded_takes_the_emptiest_worker() -> None:
    a, b = W("a", busy=1), W("b")
    assert pick("least_loaded", [a, b]) is b


def test_round_robin_rotates_per_task() -> None:
    rr = RoundRobin()
    workers = [W("a"), W("b"), W("c")]
    order = [pick("round_robin", workers, rr=rr).name for _ in range(4)]
    assert order == ["a", "b", "c", "a"]


def test_random_uses_the_draw() -> None:
    workers = [W("a"), W("b")]
    assert pick("random", workers, draw=0.0).name == "a"
    assert pick("random", workers, draw=0.99).name == "b"


def test_consistent_hash_keeps_a_task_on_its_worker_and_waits_when_it_is_busy() -> None:
    workers = [W(n) for n in "abcde"]
    home = pick("consistent_hash", workers)
    assert all(pick("consistent_hash", list(reversed(workers))) is home for _ in range(3))
    others = [w for w in workers if w is not home]
    assert pick("consistent_hash", [*others, home]) is home
    home.busy = home.capacity
    assert pick("consistent_hash", workers) is None


def test_failover_uses_the_first_worker_in_a_stable_order() -> None:
    a, b = W("a"), W("b")
    assert pick("failover", [b, a]) is a
    assert pick("failover", [b]) is b  # a is gone: the next one takes over
