"""What-if route in process: next fires now and after a change, a past window replayed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.context import CommandContext
from domain.task_spec import validate_spec
from tests.routes.support import Api, exercises

P = "/api/tasks/{ref}/preview"
PAST = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def task_of_the_past(api: Api) -> uuid.UUID:
    """A task created at PAST, every 10 minutes; the dispatcher was down from :10 to :35."""
    app = api.container.app
    name = f"w-{uuid.uuid4().hex[:8]}"
    spec = validate_spec(
        {
            "name": name,
            "command": "true",
            "schedule": "*/10 * * * *",
            "misfire_policy": "fire_once",
            "catchup_window_seconds": 3600,
        }
    )
    task_id = app.create_task(spec, CommandContext("route-test", PAST, uuid.uuid4())).aggregate_id
    back = PAST + 35 * MIN  # what the dispatcher recorded when it came back
    misfire = (task_id, PAST + 10 * MIN, PAST + 20 * MIN, 2, "misfire: fire_once")
    app.fire_cron([(task_id, PAST + 30 * MIN)], [misfire], "dispatcher", back)
    api.catch_up()
    return task_id


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")  # as the API writes UTC times


def errors(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return sorted(e["field"] for e in response.json()["errors"])


@exercises("POST", P)
def test_the_next_fires_now_and_after_a_change_and_nothing_is_saved(api: Api) -> None:
    client = api.client()
    task_id = task_of_the_past(api)
    head = api.container.app.head_position()

    response = client.post(
        f"/api/tasks/{task_id}/preview",
        json={"changes": {"schedule": "0 * * * *", "description": "same"}, "count": 3},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    current = [datetime.fromisoformat(t) for t in body["current"]]
    proposed = [datetime.fromisoformat(t) for t in body["proposed"]]
    assert len(current) == len(proposed) == 3
    assert {t.minute % 10 for t in current} == {0} and current[1] - current[0] == 10 * MIN
    assert {t.minute for t in proposed} == {0} and proposed[1] - proposed[0] == 60 * MIN
    assert body["changed"] == ["description", "schedule"] and body["window"] is None
    assert api.container.app.head_position() == head


@exercises("POST", P)
def test_a_past_window_is_replayed_under_both_definitions_given_the_downtime(api: Api) -> None:
    client = api.client(api.key("viewer"))  # reading: a viewer may ask
    task_id = task_of_the_past(api)
    window = {"from": PAST.isoformat(), "to": (PAST + 50 * MIN).isoformat()}

    response = client.post(
        f"/api/tasks/{task_id}/preview", json={"changes": {"misfire_policy": "skip"}, **window}
    )

    assert response.status_code == 200, response.text
    answer = response.json()["window"]
    # fire_once fired :30 when the dispatcher came back at :35; skip would have dropped it.
    assert answer["current"]["fired"] == 4 and answer["current"]["misfired"] == 2
    assert answer["proposed"]["fired"] == 3 and answer["proposed"]["misfired"] == 3
    assert answer["differences"] == [
        {"nominal_time": iso(PAST + 30 * MIN), "current": "fired", "proposed": "misfired"}
    ]
    assert answer["differences_total"] == 1
    assert answer["downtime"] == [{"from": iso(PAST + 10 * MIN), "to": iso(PAST + 35 * MIN)}]
    before = client.post(
        f"/api/tasks/{task_id}/preview",
        json={"changes": {}, "from": (PAST - 20 * MIN).isoformat(), "to": PAST.isoformat()},
    )
    assert before.json()["window"]["current"]["inactive"] == 2  # before the task existed


@exercises("POST", P)
def test_bad_changes_and_windows_are_422s_naming_the_field(api: Api) -> None:
    client = api.client()
    url = f"/api/tasks/{task_of_the_past(api)}/preview"
    window = {"from": PAST.isoformat(), "to": (PAST + 50 * MIN).isoformat()}

    assert errors(client.post(url, json={"changes": {"schedule": "61 * * * *"}})) == [
        "changes.schedule"
    ]
    assert errors(client.post(url, json={"changes": {"retry_count": True}})) == [
        "changes.retry_count"
    ]
    assert errors(client.post(url, json={"changes": {"nope": 1}})) == ["changes.nope"]
    assert errors(client.post(url, json={"changes": {"timezone": "Mars/Base"}})) == [
        "changes.timezone"
    ]
    assert errors(client.post(url, json={})) == ["changes"]
    assert errors(client.post(url, json={"changes": {}, "count": 0})) == ["count"]
    assert errors(client.post(url, json={"changes": {}, "from": PAST.isoformat()})) == ["to"]
    ahead = {**window, "to": "2999-01-01T00:00:00Z"}
    assert errors(client.post(url, json={"changes": {}, **ahead})) == ["to"]
    wide = {**window, "to": (PAST + timedelta(days=100)).isoformat()}
    assert errors(client.post(url, json={"changes": {}, **wide})) == ["to"]
    assert client.post("/api/tasks/nobody/preview", json={"changes": {}}).status_code == 404
