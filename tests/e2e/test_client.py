"""The Python client against a real `scheduler up`: tasks, triggers in bulk, waits, events."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import httpx
import pytest

from entrypoints.client import AsyncSchedulerClient, SchedulerClient, SchedulerError
from entrypoints.client.requests import BATCH_LIMIT
from tests.e2e.conftest import SchedulerProcess, unique

pytestmark = pytest.mark.e2e
IDLE_QUEUE = "nobody-serves-this"  # runs requested here stay pending: no work for the box


@pytest.fixture
def api(scheduler: SchedulerProcess) -> Iterator[SchedulerClient]:
    with SchedulerClient(scheduler.url) as client:
        yield client


def test_a_task_made_changed_and_run_through_the_client(api: SchedulerClient) -> None:
    task = api.create_task({"name": unique("client"), "command": "echo $GREETING"})
    assert api.get_task(task.name).uuid == task.uuid
    changed = api.update_task(task.id, {"description": "via the client"}, if_version=task.version)
    assert (changed.description, changed.version) == ("via the client", task.version + 1)
    assert task.uuid in [t.uuid for t in api.list_tasks(name=task.name).items]

    triggered = api.trigger(task.uuid, {"GREETING": "hello"}, idempotency_key="once")
    again = api.trigger(task.uuid, {"GREETING": "hello"}, idempotency_key="once")
    assert (again.run_id, again.created) == (triggered.run_id, False)
    run = api.wait_for_run(triggered.run_id, timeout=30)
    assert (run.status, run.finished) == ("succeeded", True)
    assert "hello" in (run.output or "")

    events = itertools.islice(api.follow_events(after=(triggered.position or 1) - 1, poll=0.05), 4)
    mine = [e for e in events if e.originator_id == triggered.run_id]
    assert mine[0].type == "TaskRun.Requested"


def test_trigger_many_sends_chunks_of_a_thousand_and_keeps_item_order_and_keys(
    api: SchedulerClient,
) -> None:
    task = api.create_task({"name": unique("bulk"), "command": "true", "queue": IDLE_QUEUE})
    runs = [{"params": {"N": str(i)}} for i in range(BATCH_LIMIT + 5)]
    runs[3] = runs[BATCH_LIMIT + 1] = {"params": {"N": "3"}, "idempotency_key": "same"}
    done = api.trigger_many(task.id, runs)

    assert len(done.run_ids) == BATCH_LIMIT + 5
    assert done.run_ids[3] == done.run_ids[BATCH_LIMIT + 1], "a key across chunks: one run"
    assert done.created.count(False) == 1
    assert api.get_run(done.run_ids[-1]).params == {"N": str(BATCH_LIMIT + 4)}
    assert api.get_run(done.run_ids[BATCH_LIMIT + 2]).params == {"N": str(BATCH_LIMIT + 2)}
    again = api.trigger_many(task.id, [runs[3]])
    assert (again.run_ids, again.created) == ([done.run_ids[3]], [False])


@pytest.mark.parametrize("count", [0, BATCH_LIMIT + 1])
def test_a_bulk_trigger_of_no_runs_or_too_many_is_a_422_naming_runs(
    scheduler: SchedulerProcess, count: int
) -> None:
    with SchedulerClient(scheduler.url) as api:
        task = api.create_task({"name": unique("bad"), "command": "true", "queue": IDLE_QUEUE})
    body = {"runs": [{"params": {}}] * count}
    answer = httpx.post(f"{scheduler.url}/api/tasks/{task.id}/trigger/batch", json=body)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["runs"]


def test_errors_carry_the_status_and_the_api_detail(api: SchedulerClient) -> None:
    with pytest.raises(SchedulerError) as missing:
        api.get_task(unique("no-such-task"))
    assert missing.value.status == 404 and "task" in missing.value.detail
    with pytest.raises(SchedulerError) as invalid:
        api.create_task({"name": unique("x"), "command": "true", "priority": "urgent"})
    assert invalid.value.status == 422
    assert [e["field"] for e in invalid.value.errors] == ["priority"]


def test_a_bad_api_key_is_refused_with_401(scheduler: SchedulerProcess) -> None:
    with (
        SchedulerClient(scheduler.url, api_key="sk-not-a-key") as api,
        pytest.raises(SchedulerError) as refused,
    ):
        api.list_tasks()
    assert refused.value.status == 401


def test_the_async_client_does_the_same(scheduler: SchedulerProcess) -> None:
    async def flow() -> tuple[str, list[str]]:
        async with AsyncSchedulerClient(scheduler.url) as api:
            task = await api.create_task({"name": unique("async"), "command": "true"})
            many = await api.trigger_many(task.uuid, [{}, {"params": {"A": "1"}}])
            runs = [await api.wait_for_run(run_id, timeout=30) for run_id in many.run_ids]
            return task.name, [run.status for run in runs]

    name, statuses = asyncio.run(flow())
    assert statuses == ["succeeded", "succeeded"], name


def test_prefer_return_minimal_answers_without_waiting_and_says_it_may_be_stale(
    scheduler: SchedulerProcess, api: SchedulerClient
) -> None:
    task = api.create_task({"name": unique("minimal"), "command": "true", "queue": IDLE_QUEUE})
    url = f"{scheduler.url}/api/tasks/{task.id}/trigger"
    quick = httpx.post(url, headers={"Prefer": "return=minimal"})
    assert quick.status_code == 202, quick.text
    assert quick.headers["Preference-Applied"] == "return=minimal"
    assert quick.headers["X-View-Stale"] == "true" and int(quick.headers["X-Log-Position"]) > 0
    waited = httpx.post(url)
    assert "Preference-Applied" not in waited.headers and "X-View-Stale" not in waited.headers
    assert waited.json()["status"] == "pending"
    unwaited = api.trigger_many(task.id, [{}, {}], wait=False)
    assert len(unwaited.run_ids) == 2
    assert api.get_run(unwaited.run_ids[1]).status == "pending"


def test_a_client_of_a_namespace_creates_finds_lists_and_runs_only_there(
    api: SchedulerClient, scheduler: SchedulerProcess
) -> None:
    namespace, name = unique("ns"), unique("same-name")
    assert httpx.post(f"{scheduler.url}/api/namespaces", json={"name": namespace}).is_success
    elsewhere = api.create_task({"name": name, "command": "echo default", "queue": IDLE_QUEUE})
    with SchedulerClient(scheduler.url, namespace=namespace) as scoped:
        # This box's worker serves `default` only: the run stays pending, which is enough.
        mine = scoped.create_task({"name": name, "command": "echo mine"})
        found = scoped.get_task(name)
        listed = scoped.list_tasks(name=name).items
        run = scoped.get_run(scoped.trigger(name).run_id)
        foreign_run = api.trigger(elsewhere.uuid).run_id
        with pytest.raises(SchedulerError) as hidden:
            scoped.get_run(foreign_run)
        with pytest.raises(SchedulerError) as mismatch:
            scoped.create_task({"name": unique("x"), "command": "true", "namespace": "default"})

    assert (mine.namespace, found.uuid) == (namespace, mine.uuid)
    assert [t.uuid for t in listed] == [mine.uuid]
    assert (run.namespace, run.task_uuid) == (namespace, mine.uuid)
    assert hidden.value.status == 404, "another namespace's run is not found within this one"
    assert mismatch.value.status == 422 and "namespace" in str(mismatch.value.detail)
    assert api.get_task(name).uuid == elsewhere.uuid, "without a namespace: default's task"
