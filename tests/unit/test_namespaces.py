"""Namespaces: the name rule, name index ids, routing by namespace and the limit of runs out."""

from __future__ import annotations

import uuid
from uuid import NAMESPACE_URL, uuid5

import pytest

from application.dispatch.namespace_limits import NAMESPACE_WAIT
from application.messages import Report
from application.subscriptions.run_tasks import RunTasks
from domain.errors import InvalidFieldError, NotFoundError
from domain.namespace import checked_namespaces, covers, namespace_problem
from domain.namespace_limits import Namespace, checked_limit
from domain.statuses import RunStatus
from domain.subscription_filter import SubscriptionFilter
from domain.task_name import TaskName
from domain.task_spec import SpecValidationError
from domain.worker import Worker, WorkerProfile
from tests.unit.conftest import make_spec
from tests.unit.rig import Rig
from tests.unit.test_assignment import Board


@pytest.mark.parametrize("name", ["default", "a", "team-42", "x" * 63, "0a"])
def test_a_dns_label_is_a_namespace(name: str) -> None:
    assert namespace_problem(name) is None


@pytest.mark.parametrize("name", ["", "A", "a_b", "-a", "a-", "x" * 64, "a.b", "*", 7])
def test_anything_else_is_not_and_a_task_naming_it_is_refused_naming_the_field(
    name: object,
) -> None:
    assert namespace_problem(name) is not None
    if isinstance(name, str):
        with pytest.raises(SpecValidationError) as error:
            make_spec(namespace=name)
        assert [field for field, _ in error.value.problems] == ["namespace"]


def test_a_scope_is_names_or_all_alone() -> None:
    assert checked_namespaces(["a", "b", "a"]) == ["a", "b"]
    assert checked_namespaces(["*"]) == ["*"]
    for bad in ([], ["*", "a"], ["Bad"]):
        with pytest.raises(InvalidFieldError):
            checked_namespaces(bad)
    assert covers(["*"], "x") and covers(None, "x") and not covers(["a"], "x")


def test_the_default_namespace_keeps_the_name_ids_of_before_and_others_get_their_own() -> None:
    assert TaskName.id_for("etl") == uuid5(NAMESPACE_URL, "/task-names/etl")
    assert TaskName.id_for("etl", "default") == TaskName.id_for("etl")
    assert TaskName.id_for("etl", "a") == uuid5(NAMESPACE_URL, "/namespaces/a/task-names/etl")
    assert Namespace.id_for("a") == uuid5(NAMESPACE_URL, "/namespaces/a")


def test_limits_are_whole_numbers_or_null_never_booleans() -> None:
    assert checked_limit("max_concurrent_runs", None) is None
    assert checked_limit("max_concurrent_runs", 5) == 5
    for bad in (0, True, 1.5, "3", 10**7):
        with pytest.raises(InvalidFieldError) as error:
            checked_limit("max_concurrent_runs", bad)
        assert error.value.field == "max_concurrent_runs"


def test_names_are_unique_per_namespace_and_a_name_resolves_in_its_own(rig: Rig) -> None:
    app = rig.app
    app.create_namespace("a", {}, rig.ctx())
    default = app.create_task(make_spec(name="etl"), rig.ctx()).aggregate_id
    other = app.create_task(make_spec(name="etl", namespace="a"), rig.ctx()).aggregate_id
    assert default != other
    assert app.resolve_task_ref("etl") == default
    assert app.resolve_task_ref("etl", "a") == other
    with pytest.raises(NotFoundError):
        app.resolve_task_ref("etl", "b")
    with pytest.raises(InvalidFieldError) as error:
        app.create_task(make_spec(name="x", namespace="b"), rig.ctx())
    assert error.value.field == "namespace"
    with pytest.raises(InvalidFieldError) as error:
        app.update_task(other, {"namespace": "default"}, rig.ctx())
    assert error.value.field == "namespace"


def test_an_upstream_of_another_namespace_is_refused(rig: Rig) -> None:
    rig.app.create_namespace("a", {}, rig.ctx())
    upstream = rig.app.create_task(make_spec(name="up"), rig.ctx()).aggregate_id
    with pytest.raises(InvalidFieldError) as error:
        rig.app.create_task(
            make_spec(name="down", namespace="a", depends_on=[str(upstream)]), rig.ctx()
        )
    assert "namespace 'default'" in error.value.message


def test_a_worker_registered_before_namespaces_serves_the_default_one(rig: Rig) -> None:
    worker = Worker.register(uuid.uuid4(), WorkerProfile("w", "h", ["shell"]), rig.ctx())
    state = {"name": "w", "hostname": "h", "executors": ["shell"], "queues": ["default"]}
    Worker.Registered.upcast_v1_v2(state)
    assert state["namespaces"] == ["default"] and worker.namespaces == ("default",)


def test_a_worker_takes_only_runs_of_the_namespaces_it_serves() -> None:
    b = Board()
    only_a = b.worker("a")
    only_a.namespaces = frozenset({"a"})
    every = b.worker("all")
    every.namespaces = frozenset({"*"})
    run_a = b.run("ta", task={"namespace": "a"})
    run_b = b.run("tb", task={"namespace": "b"})
    old = b.run("old")  # a snapshot from before namespaces: the default one
    assert only_a.accepts(run_a.task) and not only_a.accepts(run_b.task)
    assert not only_a.accepts(old.task) and every.accepts(run_b.task)
    plan = b.plan(live=[only_a])
    assert plan.wanted == [(run_a.run_id, only_a.worker_id)]
    reasons = {run_id: reason for run_id, _, reason in plan.notes}
    assert "namespace 'b'" in reasons[run_b.run_id]


def test_runs_beyond_the_namespace_limit_wait_with_the_code_and_the_count() -> None:
    b = Board()
    worker = b.worker("w", capacity=8)
    worker.namespaces = frozenset({"*"})
    b.board.namespace_limits["a"] = 2
    b.out(b.run("one", task={"namespace": "a"}), worker)
    second = b.run("two", task={"namespace": "a"})
    third = b.run("three", task={"namespace": "a"})
    free = b.run("four", task={"namespace": "b"})
    plan = b.plan()
    assert sorted(r for r, _ in plan.wanted) == sorted([second.run_id, free.run_id])
    [(run_id, code, reason)] = plan.notes
    assert (run_id, code) == (third.run_id, NAMESPACE_WAIT)
    assert reason == "namespace_limit: 2 runs of namespace 'a' are out (max_concurrent_runs 2)"


def test_a_held_run_goes_out_when_a_run_of_its_namespace_ends(rig: Rig) -> None:
    rig.app.create_namespace("default-limited", {"max_concurrent_runs": 1}, rig.ctx())
    worker_id = uuid.uuid4()
    rig.app.register_worker_once(
        worker_id,
        {"name": "w", "executors": ["shell"], "max_concurrent_tasks": 4, "namespaces": ["*"]},
        rig.ctx(),
    )
    rig.beat(worker_id)
    spec = make_spec(name="limited", namespace="default-limited")
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    first, second = (rig.app.trigger_task(task_id, rig.ctx()).aggregate_id for _ in range(2))
    rig.dispatcher.step()
    rig.dispatcher.step()
    assert rig.app.get_run(second).status is RunStatus.PENDING
    assert list(rig.app.events.get(second))[-1].code == NAMESPACE_WAIT
    report = Report("succeeded", first, 1, worker_id, exit_code=0)
    rig.app.record_reports([report], rig.clock.now())
    rig.dispatcher.step()
    assert rig.app.get_run(second).status is RunStatus.ASSIGNED


def test_a_subscription_of_a_namespace_matches_only_its_tasks_and_runs_events(rig: Rig) -> None:
    rig.app.create_namespace("a", {}, rig.ctx())
    in_a = rig.app.create_task(make_spec(name="t", namespace="a"), rig.ctx()).aggregate_id
    in_default = rig.app.create_task(make_spec(name="t"), rig.ctx()).aggregate_id
    runs = [rig.app.trigger_task(t, rig.ctx()).aggregate_id for t in (in_a, in_default)]
    events = [e for _, e in rig.app.read_log(0, 1_000) if e.originator_id in runs]
    tasks = RunTasks(rig.app.get_run, get_task=rig.app.get_task)
    topic = "scheduler:TaskRun.Requested"
    found = [tasks.namespace_of(e, topic) for e in events]
    only_a = SubscriptionFilter(topics=(topic,), namespace="a")

    assert found == ["a", "default"]
    assert [only_a.matches(topic, None, None, 0, ns) for ns in found] == [True, False]
    assert SubscriptionFilter.from_dict(only_a.as_dict()) == only_a
    assert SubscriptionFilter.from_dict({"topics": [topic]}).namespace is None  # stored before
    with pytest.raises(InvalidFieldError):
        SubscriptionFilter(topics=(topic,), namespace="Not A Namespace")


def test_default_has_a_record_only_once_a_limit_is_set(rig: Rig) -> None:
    app = rig.app
    unchanged = app.set_namespace_limits("default", {"max_concurrent_runs": None}, rig.ctx())
    assert unchanged.position is None and app.get_namespace("default") is None
    with pytest.raises(InvalidFieldError):
        app.set_namespace_limits("default", {"max_concurent_runs": 1}, rig.ctx())
    app.set_namespace_limits("default", {"trigger_rate_per_minute": 5}, rig.ctx())
    assert app.get_namespace("default").limits() == {
        "max_concurrent_runs": None,
        "trigger_rate_per_minute": 5,
    }
    with pytest.raises(InvalidFieldError) as error:
        app.set_namespace_limits("default", {"max_concurent_runs": 1}, rig.ctx())
    assert error.value.field == "max_concurent_runs"
    with pytest.raises(NotFoundError):
        app.set_namespace_limits("never-made", {"max_concurrent_runs": 1}, rig.ctx())
