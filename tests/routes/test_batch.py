"""The bulk trigger in process: runs in item order, keys per item, its limits and its right."""

from __future__ import annotations

from tests.routes.support import Api, exercises
from tests.routes.test_tasks import create

BATCH = "/api/tasks/{ref}/trigger/batch"


@exercises("POST", BATCH)
def test_a_bulk_trigger_answers_every_run_in_item_order_with_one_position(api: Api) -> None:
    client = api.client()
    task = create(client)
    runs = [{"params": {"N": str(i)}} for i in range(5)] + [{"idempotency_key": "k"}] * 2

    response = client.post(f"/api/tasks/{task['id']}/trigger/batch", json={"runs": runs})

    assert response.status_code == 202, response.text
    body = response.json()
    assert len(body["run_ids"]) == 7 and body["run_ids"][5] == body["run_ids"][6]
    assert body["created"] == [True] * 6 + [False]
    assert (body["task_id"], body["task_uuid"]) == (task["id"], task["uuid"])
    assert response.headers["X-Log-Position"] == str(body["position"])
    third = client.get(f"/api/runs/{body['run_ids'][2]}").json()
    assert third["params"] == {"N": "2"} and third["status"] == "pending"


@exercises("POST", BATCH)
def test_no_runs_or_more_than_a_thousand_is_a_422_naming_runs(api: Api) -> None:
    client = api.client()
    task = create(client)
    for count in (0, 1_001):
        body = {"runs": [{"params": {}}] * count}
        response = client.post(f"/api/tasks/{task['id']}/trigger/batch", json=body)
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["runs"]


@exercises("POST", BATCH)
def test_a_key_reused_with_other_params_is_a_422_naming_the_item(api: Api) -> None:
    client = api.client()
    task = create(client)
    client.post(f"/api/tasks/{task['id']}/trigger", headers={"Idempotency-Key": "k1"})
    runs = [{"params": {}}, {"params": {"A": "1"}, "idempotency_key": "k1"}]

    response = client.post(f"/api/tasks/{task['id']}/trigger/batch", json={"runs": runs})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "runs[1].idempotency_key"
