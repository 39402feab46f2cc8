"""Dependencies in batches: downstream runs, joins, upstream failures, cycles and reasons."""

from __future__ import annotations

import uuid

import pytest

from application.dispatch.dispatcher import Dispatcher
from application.messages import Report
from application.ports import Wakeup
from domain.context import CommandContext
from domain.errors import InvalidFieldError
from domain.task_run import RunStatus, TaskRun
from tests.unit.conftest import make_spec
from tests.unit.rig import Rig


def task(rig: Rig, name: str, *upstreams: str, **spec: object) -> uuid.UUID:
    refs = [str(rig.app.task_id_for_name(u)) for u in upstreams]
    return rig.app.create_task(
        make_spec(name=name, depends_on=refs, **spec), rig.ctx()
    ).aggregate_id


def finish(rig: Rig, run_id: uuid.UUID, worker: uuid.UUID, ok: bool = True) -> None:
    """Let the dispatcher assign the run, then report its outcome."""
    rig.dispatcher.step()
    attempt = rig.app.get_run(run_id).attempt
    kind = "succeeded" if ok else "failed"
    report = Report(kind, run_id, attempt, worker, exit_code=0 if ok else 3, error=None)
    rig.app.record_reports([report], rig.clock.now())
    rig.dispatcher.step()


def runs_of(rig: Rig, name: str) -> list[TaskRun.Requested]:
    return [
        e
        for _, e in rig.app.read_log(0, 10_000)
        if isinstance(e, TaskRun.Requested) and e.task["name"] == name
    ]


def test_a_downstream_runs_in_its_upstreams_batch_when_it_succeeds(rig: Rig) -> None:
    worker = rig.worker("w", capacity=4)
    task(rig, "extract")
    task(rig, "load", "extract")
    batch = rig.ctx()
    root = rig.app.trigger_task(rig.app.task_id_for_name("extract"), batch).aggregate_id
    finish(rig, root, worker)
    [load] = runs_of(rig, "load")
    assert load.trigger == "dependency"
    assert load.metadata["correlation_id"] == str(batch.correlation_id)
    assert load.metadata["causation_id"] == str(root)
    assert rig.app.get_run(load.originator_id).status is RunStatus.ASSIGNED


def test_a_join_waits_for_every_upstream_of_the_batch_and_says_so(rig: Rig) -> None:
    worker = rig.worker("w", capacity=4)
    task(rig, "a")
    task(rig, "b")
    task(rig, "join", "a", "b")
    batch = rig.ctx()
    run_a = rig.app.trigger_task(rig.app.task_id_for_name("a"), batch).aggregate_id
    run_b = rig.app.trigger_task(rig.app.task_id_for_name("b"), batch).aggregate_id
    finish(rig, run_a, worker)
    [join] = runs_of(rig, "join")
    held = rig.app.get_run(join.originator_id)
    assert held.status is RunStatus.PENDING and held.wait_code == "dependency"
    waiting = [e for e in rig.app.events.get(join.originator_id) if type(e).__name__ == "WaitNoted"]
    assert waiting[-1].reason == "dependency: waiting for 'b'"
    finish(rig, run_b, worker)
    assert rig.app.get_run(join.originator_id).status is RunStatus.ASSIGNED


def test_an_upstream_that_fails_for_good_marks_the_whole_chain_upstream_failed(rig: Rig) -> None:
    worker = rig.worker("w", capacity=4)
    task(rig, "a", retry_count=0)
    task(rig, "b", "a")
    task(rig, "c", "b")
    root = rig.app.trigger_task(rig.app.task_id_for_name("a"), rig.ctx()).aggregate_id
    finish(rig, root, worker, ok=False)
    rig.dispatcher.step()
    [b], [c] = runs_of(rig, "b"), runs_of(rig, "c")
    assert rig.app.get_run(b.originator_id).status is RunStatus.UPSTREAM_FAILED
    assert rig.app.get_run(c.originator_id).status is RunStatus.UPSTREAM_FAILED
    last = list(rig.app.events.get(c.originator_id))[-1]
    assert "upstream task 'b' ended upstream_failed" in last.reason


def test_a_paused_downstream_is_skipped_with_its_reason(rig: Rig) -> None:
    worker = rig.worker("w")
    task(rig, "a")
    down = task(rig, "b", "a")
    rig.app.pause_task(down, "migration", rig.ctx())
    finish(rig, rig.app.trigger_task(rig.app.task_id_for_name("a"), rig.ctx()).aggregate_id, worker)
    [b] = runs_of(rig, "b")
    assert rig.app.get_run(b.originator_id).status is RunStatus.SKIPPED
    assert list(rig.app.events.get(b.originator_id))[-1].reason == "task is paused: migration"


def test_a_cycle_is_refused_naming_it(rig: Rig) -> None:
    a = task(rig, "a")
    task(rig, "b", "a")
    task(rig, "c", "b")
    with pytest.raises(InvalidFieldError, match="would make a cycle: a -> c -> b -> a"):
        rig.app.update_task(a, {"depends_on": [str(rig.app.task_id_for_name("c"))]}, rig.ctx())
    with pytest.raises(InvalidFieldError, match="cannot depend on itself"):
        rig.app.update_task(a, {"depends_on": [str(a)]}, rig.ctx())
    with pytest.raises(InvalidFieldError, match="no task"):
        task_id = str(uuid.uuid4())
        rig.app.create_task(make_spec(name="d", depends_on=[task_id]), rig.ctx())
    assert rig.app.get_task(a).spec["depends_on"] == []


def test_a_dependency_added_later_never_runs_for_old_batches_on_replay(rig: Rig) -> None:
    worker = rig.worker("w")
    task(rig, "a")
    finish(rig, rig.app.trigger_task(rig.app.task_id_for_name("a"), rig.ctx()).aggregate_id, worker)
    task(rig, "late", "a")
    fresh = Dispatcher(rig.app, rig.bus, rig.liveness, rig.clock, Wakeup(), name="d2")
    fresh.follow_log()
    fresh.step()
    assert runs_of(rig, "late") == []


def test_a_run_with_no_eligible_worker_says_so_and_goes_when_one_appears(rig: Rig) -> None:
    rig.worker("cpu")
    run_id = rig.trigger("train", queue="gpu")
    rig.dispatcher.step()
    rig.dispatcher.step()
    waits = [e for e in rig.app.events.get(run_id) if type(e).__name__ == "WaitNoted"]
    assert len(waits) == 1 and waits[0].code == "no_eligible_worker"
    assert "queue 'gpu'" in waits[0].reason
    gpu = uuid.uuid4()
    profile = {"name": "gpu", "executors": ["shell"], "queues": ["gpu"], "max_concurrent_tasks": 1}
    rig.app.register_worker_once(gpu, profile, CommandContext("w", rig.clock.now(), gpu))
    rig.beat(gpu)
    rig.dispatcher.step()
    assert rig.app.get_run(run_id).worker_id == gpu
