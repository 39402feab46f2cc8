"""The API continues a caller's W3C traceparent (or starts a trace) and returns it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from adapters.tracing import build_tracer
from tests.routes.support import Api, Caller, exercises, open_api

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
GIVEN = f"00-{TRACE_ID}-{PARENT_ID}-01"
TRIGGER = "/api/tasks/{ref}/trigger"
RUN_EVENTS = "/api/runs/{run_id}/events"


def trigger(client: Caller, **headers: str) -> tuple[str, str | None]:
    """(run id, the answer's traceparent) of a new task's run."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    assert client.post("/api/tasks", json={"name": name, "command": "true"}).status_code == 201
    response = client.post(f"/api/tasks/{name}/trigger", headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["run_id"], response.headers.get("traceparent")


def event_traces(client: Caller, run_id: str) -> list[str | None]:
    response = client.get(f"/api/runs/{run_id}/events")
    assert response.status_code == 200
    return [event["traceparent"] for event in response.json()]


@exercises("POST", TRIGGER)
@exercises("GET", RUN_EVENTS)
def test_with_tracing_off_a_given_traceparent_is_recorded_and_returned(api: Api) -> None:
    client = api.client()

    run_id, answered = trigger(client, traceparent=GIVEN)

    assert answered == GIVEN
    assert event_traces(client, run_id) == [GIVEN]


@exercises("POST", TRIGGER)
@exercises("GET", RUN_EVENTS)
def test_with_tracing_off_a_request_without_one_has_no_trace(api: Api) -> None:
    client = api.client()

    run_id, answered = trigger(client)

    assert answered is None
    assert event_traces(client, run_id) == [None]


def test_a_malformed_traceparent_is_a_422_naming_the_header(api: Api) -> None:
    response = api.client().get("/api/runs", headers={"traceparent": f"00-{TRACE_ID}-00-01"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "traceparent"
    assert "W3C" in response.json()["detail"]  # refused before routing: no route ran


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def traced_api(
    tmp_path_factory: pytest.TempPathFactory, exporter: InMemorySpanExporter
) -> Iterator[Api]:
    yield from open_api(tmp_path_factory.mktemp("traced"), build_tracer("api", None, exporter))


def server_spans(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.kind is SpanKind.SERVER and f"{span.context.trace_id:032x}" == trace_id  # type: ignore[union-attr]
    ]


def test_with_tracing_on_the_request_is_a_server_span_in_the_caller_s_trace(
    traced_api: Api, exporter: InMemorySpanExporter
) -> None:
    client = traced_api.client()

    run_id, answered = trigger(client, traceparent=GIVEN)

    assert answered is not None
    version, trace_id, span_id, _flags = answered.split("-")
    assert (version, trace_id) == ("00", TRACE_ID) and span_id != PARENT_ID
    (server,) = [s for s in server_spans(exporter, TRACE_ID) if "trigger" in s.name]
    assert server.name == f"POST {TRIGGER}"
    assert server.parent is not None and f"{server.parent.span_id:016x}" == PARENT_ID
    assert f"{server.context.span_id:016x}" == span_id  # type: ignore[union-attr]
    saves = [
        s
        for s in exporter.get_finished_spans()
        if s.name == "scheduler.save"
        and s.parent is not None
        and f"{s.parent.span_id:016x}" == span_id
    ]
    assert saves, "the command's save is a child of the request's span"
    assert event_traces(client, run_id) == [answered]


def test_with_tracing_on_a_request_without_one_starts_a_trace(
    traced_api: Api, exporter: InMemorySpanExporter
) -> None:
    client = traced_api.client()

    run_id, answered = trigger(client)

    assert answered is not None
    trace_id = answered.split("-")[1]
    assert trace_id != TRACE_ID
    (server,) = [s for s in server_spans(exporter, trace_id) if "trigger" in s.name]
    assert server.parent is None
    assert event_traces(client, run_id) == [answered]


def test_probes_without_a_traceparent_start_no_trace(
    traced_api: Api, exporter: InMemorySpanExporter
) -> None:
    traced_api.catch_up()  # the earlier tests' events are projected, their spans ended
    exporter.clear()

    response = traced_api.client().get("/health")

    assert "traceparent" not in response.headers
    assert exporter.get_finished_spans() == ()


def test_a_refused_request_answers_with_its_traceparent_too(api: Api) -> None:
    response = api.client(key="sk_not_a_key").get("/api/runs", headers={"traceparent": GIVEN})

    assert response.status_code == 401
    assert response.headers["traceparent"] == GIVEN
