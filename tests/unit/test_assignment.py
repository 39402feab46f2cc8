"""The assignment plan as a pure function of a board and the live workers: no app, no bus."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from application.dispatch.assignment import (
    QUEUED_REASON,
    AssignmentPlan,
    plan_assignments,
)
from application.dispatch.board import DispatchBoard
from application.dispatch.entries import OpenRun, WorkerSlot
from application.dispatch.policy import DispatchPolicy
from application.dispatch.routing import RoundRobin
from domain.task_spec import PRIORITY_RANK
from tests.unit.conftest import START

POLICY = DispatchPolicy(batch_size=200)


class Board:
    """A dispatch board filled by hand, as the log would have left it."""

    def __init__(self) -> None:
        self.board = DispatchBoard()
        self.tasks: dict[str, uuid.UUID] = {}
        self.position = 0

    def worker(self, name: str, capacity: int = 2, **caps: Any) -> WorkerSlot:
        slot = WorkerSlot(
            worker_id=uuid.uuid4(),
            name=name,
            executors=frozenset(caps.get("executors", ["shell"])),
            queues=frozenset(caps.get("queues", ["default"])),
            labels=dict(caps.get("labels", {})),
            capacity=capacity,
        )
        self.board.workers[slot.worker_id] = slot
        return slot

    def run(self, name: str = "t", **fields: Any) -> OpenRun:
        definition = {"name": name, "executor": "shell", "command": "true"}
        definition |= fields.pop("task", {})
        self.position += 1
        run = OpenRun(
            run_id=uuid.uuid4(),
            task_id=self.tasks.setdefault(name, uuid.uuid4()),
            position=self.position,
            priority_rank=PRIORITY_RANK[definition.get("priority", "normal")],
            task=definition,
            params={},
            requested_at=START,
            **fields,
        )
        self.board.open_runs[run.run_id] = run
        return run

    def out(self, run: OpenRun, slot: WorkerSlot, attempt: int = 1) -> None:
        """As TaskRun.Assigned leaves it."""
        run.worker_id, run.attempt = slot.worker_id, attempt
        slot.running.add(run.run_id)

    def plan(
        self,
        live: list[WorkerSlot] | None = None,
        policy: DispatchPolicy = POLICY,
        blocking: Any = lambda _run_id: [],
        rr: RoundRobin | None = None,
    ) -> AssignmentPlan:
        workers = list(self.board.workers.values()) if live is None else live
        return plan_assignments(
            self.board, workers, START, policy, rr or RoundRobin(), lambda: 0.0, blocking
        )


def test_runs_go_highest_priority_first_and_a_round_never_overfills_a_worker() -> None:
    b = Board()
    worker = b.worker("w", capacity=2)
    normal = [b.run("n") for _ in range(3)]
    critical = b.run("c", task={"priority": "critical"})
    plan = b.plan()
    assert plan.wanted == [
        (critical.run_id, worker.worker_id),
        (normal[0].run_id, worker.worker_id),
    ]
    assert (plan.notes, plan.skip, plan.replace, plan.fanouts) == ([], [], [], [])


def test_planning_only_reads_the_board() -> None:
    b = Board()
    worker = b.worker("w", capacity=1)
    run = b.run()
    assert b.plan().wanted == [(run.run_id, worker.worker_id)]
    assert worker.running == set() and run.worker_id is None
    assert b.plan().wanted == [(run.run_id, worker.worker_id)], "the next round plans it again"


def test_reservations_spread_a_round_over_the_least_loaded_workers() -> None:
    b = Board()
    busy, idle = b.worker("a", capacity=4), b.worker("b", capacity=4)
    b.out(b.run("other"), busy)
    runs = [b.run() for _ in range(3)]
    plan = b.plan()
    assert [w for _, w in plan.wanted] == [idle.worker_id, busy.worker_id, idle.worker_id]
    assert [r for r, _ in plan.wanted] == [r.run_id for r in runs]


def test_a_full_pool_makes_runs_wait_without_a_note() -> None:
    b = Board()
    worker = b.worker("w", capacity=1)
    b.out(b.run("first"), worker)
    b.run("second")
    assert b.plan() == AssignmentPlan()


def test_a_run_no_live_worker_can_take_waits_and_says_what_it_asks_for() -> None:
    b = Board()
    b.worker("w", executors=["shell"])
    run = b.run(task={"executor": "python", "queue": "gpu", "labels": {"zone": "eu"}})
    plan = b.plan()
    assert plan.wanted == []
    [(run_id, code, reason)] = plan.notes
    assert (run_id, code) == (run.run_id, "no_eligible_worker")
    assert reason == (
        "no_eligible_worker: no live active worker offers executor 'python', "
        "queue 'gpu', labels {'zone': 'eu'}"
    )


def test_a_reason_already_recorded_is_not_noted_again() -> None:
    b = Board()
    b.run(task={"executor": "python"}, wait_code="no_eligible_worker")
    assert b.plan().notes == []
    assert b.plan(live=[]).notes == []


def test_a_dependency_run_waits_for_the_upstreams_that_have_not_succeeded() -> None:
    b = Board()
    b.worker("w")
    held = b.run("load", trigger="dependency")
    free = b.run("other", trigger="dependency")
    plan = b.plan(blocking=lambda run_id: ["extract", "clean"] if run_id == held.run_id else [])
    assert plan.notes == [(held.run_id, "dependency", "dependency: waiting for 'extract', 'clean'")]
    assert [r for r, _ in plan.wanted] == [free.run_id]


def test_overlap_policies_while_a_run_of_the_task_is_out() -> None:
    b = Board()
    worker = b.worker("w", capacity=8)
    for policy in ("skip", "queue", "replace", "allow"):
        b.out(b.run(policy, task={"concurrency_policy": policy}), worker)
    skipped = b.run("skip", task={"concurrency_policy": "skip"})
    queued = b.run("queue", task={"concurrency_policy": "queue"})
    replacing = b.run("replace", task={"concurrency_policy": "replace"})
    allowed = b.run("allow", task={"concurrency_policy": "allow"})
    plan = b.plan()
    assert plan.skip == [skipped.run_id]
    assert plan.notes == [(queued.run_id, "concurrency", QUEUED_REASON)]
    [old] = [
        r for r in b.board.open_runs.values() if r.task_id == replacing.task_id and r.worker_id
    ]
    assert plan.replace == [old.run_id]
    assert [r for r, _ in plan.wanted] == [replacing.run_id, allowed.run_id]


def test_a_run_assigned_in_this_round_makes_its_task_busy_for_the_next() -> None:
    b = Board()
    b.worker("w", capacity=4)
    first = b.run("q", task={"concurrency_policy": "queue"})
    second = b.run("q", task={"concurrency_policy": "queue"})
    plan = b.plan()
    assert [r for r, _ in plan.wanted] == [first.run_id]
    assert plan.notes == [(second.run_id, "concurrency", QUEUED_REASON)]


def test_a_broadcast_run_fans_out_to_every_eligible_worker_by_name() -> None:
    b = Board()
    workers = [b.worker(n, capacity=1) for n in ("w-c", "w-a", "w-b")]
    b.worker("w-python", executors=["python"])
    b.out(b.run("busy"), workers[0])  # a full worker still gets its shard
    run = b.run("fan", task={"routing_strategy": "broadcast"})
    plan = b.plan()
    by_name = sorted(workers, key=lambda w: w.name)
    assert plan.fanouts == [(run.run_id, [w.worker_id for w in by_name])]
    assert plan.wanted == []


def test_a_shard_waits_for_its_own_worker_and_moves_only_when_that_worker_is_gone() -> None:
    b = Board()
    home, other = b.worker("home", capacity=1), b.worker("other", capacity=1)
    parent = uuid.uuid4()
    shard = b.run("fan", parent_run_id=parent, target_worker_id=home.worker_id, shard=(0, 2))
    assert b.plan().wanted == [(shard.run_id, home.worker_id)]
    b.out(b.run("busy"), home)
    assert b.plan().wanted == [], "its worker is full: it waits for it"
    assert b.plan(live=[other]).wanted == [(shard.run_id, other.worker_id)]


def test_a_shard_is_assigned_even_when_its_task_is_busy() -> None:
    b = Board()
    worker = b.worker("w", capacity=2)
    parent = b.run("fan", task={"concurrency_policy": "skip"}, fanned_out=True)
    shard = b.run("fan", parent_run_id=parent.run_id, target_worker_id=worker.worker_id)
    plan = b.plan()
    assert plan.wanted == [(shard.run_id, worker.worker_id)] and plan.skip == []


def test_a_retry_waits_for_its_time() -> None:
    b = Board()
    worker = b.worker("w")
    later = b.run(retry_at=START + timedelta(seconds=5))
    due = b.run(retry_at=START)
    assert b.plan().wanted == [(due.run_id, worker.worker_id)]
    assert later.run_id not in {r for r, _ in b.plan().wanted}


def test_a_round_assigns_and_notes_at_most_a_batch() -> None:
    b = Board()
    b.worker("w", capacity=10)
    b.worker("p", capacity=10, executors=["python"])
    for _ in range(5):
        b.run()
        b.run("py", task={"executor": "http"})
    plan = b.plan(policy=DispatchPolicy(batch_size=3))
    assert len(plan.wanted) == 3 and len(plan.notes) == 3


def test_failover_waits_for_its_primary_while_round_robin_rotates_within_the_round() -> None:
    failover = Board()
    primary, _ = failover.worker("a", capacity=1), failover.worker("c", capacity=1)
    first = failover.run("r", task={"routing_strategy": "failover"})
    failover.run("r", task={"routing_strategy": "failover"})
    assert failover.plan().wanted == [(first.run_id, primary.worker_id)], "the second waits"
    rotating = Board()
    a, c = rotating.worker("a", capacity=1), rotating.worker("c", capacity=1)
    runs = [rotating.run("rr", task={"routing_strategy": "round_robin"}) for _ in range(2)]
    assert rotating.plan(rr=RoundRobin()).wanted == [
        (runs[0].run_id, a.worker_id),
        (runs[1].run_id, c.worker_id),
    ]


def test_a_run_whose_definition_cannot_be_read_is_set_aside_whole() -> None:
    b = Board()
    worker = b.worker("w")
    b.out(b.run("bad"), worker)
    bad = b.run("bad", task={"concurrency_policy": "replace", "labels": "not a mapping"})
    good = b.run()
    plan = b.plan()
    [(held, error)] = plan.unreadable
    assert held is bad and isinstance(error, AttributeError)
    assert plan.replace == [], "nothing of its decision is kept"
    assert plan.wanted == [(good.run_id, worker.worker_id)]
