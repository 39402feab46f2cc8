"""Dependencies over HTTP: a chain runs in its batch, a join waits, failures and cycles."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.e2e.conftest import unique, wait_for_run
from tests.e2e.test_runs import create


def runs_of(client: httpx.Client, ref: str, count: int = 1, timeout: float = 20.0) -> list[dict]:
    """Wait until the task has `count` runs; return them newest first."""
    deadline = time.monotonic() + timeout
    items: list[dict] = []
    while time.monotonic() < deadline:
        items = client.get("/api/runs", params={"task": ref}).json()["items"]
        if len(items) >= count:
            return items
        time.sleep(0.05)
    raise AssertionError(f"task {ref} has {len(items)} runs, wanted {count}")


def test_a_chain_runs_in_one_batch_and_a_join_waits_for_both_upstreams(
    client: httpx.Client,
) -> None:
    extract = create(client, name="extract", command="sleep 2")  # still running when `other` ends
    other = create(client, name="other")
    load = create(client, name="load", depends_on=[extract["name"], str(other["id"])])
    assert load["depends_on"] == [extract["uuid"], other["uuid"]]
    batch = str(uuid.uuid4())
    headers = {"X-Correlation-Id": batch}
    root = client.post(f"/api/tasks/{extract['id']}/trigger", headers=headers).json()["run_id"]
    quick = client.post(f"/api/tasks/{other['id']}/trigger", headers=headers).json()["run_id"]
    assert wait_for_run(client, quick)["status"] == "succeeded"
    [waiting] = runs_of(client, load["name"])  # other done, extract still running
    assert waiting["status"] == "pending", waiting
    assert waiting["trigger"] == "dependency" and waiting["correlation_id"] == batch
    deadline = time.monotonic() + 10
    while "dependency: waiting for" not in (waiting["reason"] or ""):
        assert time.monotonic() < deadline, waiting
        waiting = client.get(f"/api/runs/{waiting['id']}").json()
    assert extract["name"] in waiting["reason"]
    assert wait_for_run(client, root)["status"] == "succeeded"
    assert wait_for_run(client, waiting["id"])["status"] == "succeeded"


def test_a_failed_upstream_marks_its_downstream_upstream_failed(client: httpx.Client) -> None:
    upstream = create(client, name="breaks", command="exit 4")
    downstream = create(client, name="after", depends_on=[upstream["uuid"]])
    root = client.post(f"/api/tasks/{upstream['id']}/trigger").json()["run_id"]
    assert wait_for_run(client, root)["status"] == "failed"
    [run] = runs_of(client, downstream["uuid"])
    run = wait_for_run(client, run["id"])
    assert run["status"] == "upstream_failed"
    assert upstream["name"] in run["reason"] and "failed" in run["reason"]


def test_a_cycle_or_an_unknown_upstream_is_refused_with_422_naming_it(
    client: httpx.Client,
) -> None:
    first = create(client, name="first")
    second = create(client, name="second", depends_on=[first["name"]])
    cycle = client.patch(f"/api/tasks/{first['id']}", json={"depends_on": [second["name"]]})
    assert cycle.status_code == 422, cycle.text
    assert f"{first['name']} -> {second['name']} -> {first['name']}" in cycle.json()["detail"]
    unknown = client.post(
        "/api/tasks", json={"name": unique("x"), "command": "true", "depends_on": ["nope-123"]}
    )
    assert unknown.status_code == 422 and "nope-123" in unknown.json()["detail"]
    assert client.get(f"/api/tasks/{first['id']}").json()["depends_on"] == []
