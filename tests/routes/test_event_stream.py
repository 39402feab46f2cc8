"""The event stream in process: server-sent events after a position, resumable, bounded."""

from __future__ import annotations

import uuid

import orjson

from entrypoints.api.event_stream import stream_slots
from entrypoints.api.stream_slots import StreamSlots
from tests.routes.support import Api, Caller, exercises

S = "/api/events/stream"


def created(client: Caller) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    assert client.post("/api/tasks", json={"name": name, "command": "true"}).status_code == 201
    return name


def frames(body: str) -> list[tuple[int, dict[str, object]]]:
    """(id, data) of each event frame; comments and the retry line are not events."""
    found = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "id" in lines:
            found.append((int(lines["id"]), orjson.loads(lines["data"])))
    return found


@exercises("GET", S)
def test_the_stream_sends_the_events_after_a_position_with_their_positions(api: Api) -> None:
    client = api.client()
    before = api.container.app.head_position()
    name = created(client)

    response = client.get(S, params={"after": before, "limit": 1})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("retry: ")
    [(position, record)] = frames(response.text)
    assert position == before + 1 and record["position"] == position
    assert name in orjson.dumps(record).decode()


@exercises("GET", S)
def test_the_stream_resumes_after_last_event_id_rather_than_after(api: Api) -> None:
    client = api.client()
    created(client)
    created(client)

    response = client.get(S, params={"after": 0, "limit": 1}, headers={"Last-Event-ID": "1"})

    assert [p for p, _ in frames(response.text)] == [2]


@exercises("GET", S)
def test_a_stream_after_an_impossible_position_or_with_a_zero_limit_is_a_422(api: Api) -> None:
    client = api.client()

    negative = client.get(S, params={"after": -1})
    zero = client.get(S, params={"after": 0, "limit": 0})

    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "after"
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "limit"


@exercises("GET", S)
def test_a_stream_past_the_processs_cap_is_a_503_to_retry_and_an_ended_one_frees_its_place(
    api: Api,
) -> None:
    client = api.client()
    slots = StreamSlots(1)
    api.app.dependency_overrides[stream_slots] = lambda: slots
    held = slots.take()
    assert held is not None

    refused = client.get(S, params={"after": 0, "limit": 1})
    held.release()
    served = [client.get(S, params={"after": 0, "limit": 1}) for _ in range(2)]

    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert [r.status_code for r in served] == [200, 200]
    assert slots.open == 0
