"""Trace contexts: W3C traceparent parsing, and how one run's trace crosses every component."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from adapters.executors.model import ExecutionResult
from adapters.tracing import (
    OtelTracer,
    build_tracer,
    current_trace_ids,
    current_traceparent,
    format_traceparent,
    parse_traceparent,
    traces_url,
)
from application.attempt_reports import AttemptReports
from application.commands.app import SchedulerApp
from application.messages import Delivery, Report
from application.tracing import NO_SPAN, NO_TRACER
from domain.context import CommandContext
from domain.task_run import TaskRun
from projections.base import Projection, handles
from projections.tracing import traced
from tests.unit.rig import Rig, make_spec

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
GIVEN = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[OtelTracer]:
    built = build_tracer("test", None, exporter)
    yield built
    built.shutdown()


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def trace_id_of(traceparent: str | None) -> str:
    assert traceparent is not None
    return traceparent.split("-")[1]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def hex_parent(span: ReadableSpan) -> str | None:
    return f"{span.parent.span_id:016x}" if span.parent is not None else None


# Parsing


def test_a_w3c_traceparent_is_read_and_written_back_the_same() -> None:
    span_context = parse_traceparent(GIVEN)

    assert span_context is not None
    assert span_context.is_remote
    assert format_traceparent(span_context) == GIVEN


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # hex is lower case
        f"00-{'0' * 32}-{PARENT_ID}-01",  # an all-zero trace id is invalid
        f"00-{TRACE_ID}-{'0' * 16}-01",  # and so is an all-zero parent id
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # version ff is forbidden
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has exactly four fields
    ],
)
def test_a_malformed_traceparent_names_no_span(text: str) -> None:
    assert parse_traceparent(text) is None


def test_a_future_version_is_read_as_version_00() -> None:
    span_context = parse_traceparent(f"01-{TRACE_ID}-{PARENT_ID}-01-more")

    assert span_context is not None
    assert format_traceparent(span_context) == GIVEN


def test_the_collector_base_url_gets_the_traces_path_once() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


# The domain carries the string


def test_a_command_context_with_a_trace_stores_it_in_the_metadata_and_hands_it_on() -> None:
    ctx = CommandContext("op", datetime.now(UTC), uuid.uuid4(), traceparent=GIVEN)

    assert ctx.metadata()["traceparent"] == GIVEN
    assert ctx.caused_by(uuid.uuid4(), actor="dispatcher").traceparent == GIVEN


def test_an_untraced_context_adds_no_metadata_key() -> None:
    ctx = CommandContext("op", datetime.now(UTC), uuid.uuid4())

    assert "traceparent" not in ctx.metadata()


# Spans


def test_a_span_continues_its_parent_and_names_itself_in_its_traceparent(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    with tracer.span("work", GIVEN) as span:
        inside = current_traceparent()
        ids = current_trace_ids()

    (finished,) = exporter.get_finished_spans()
    assert hex_trace(finished) == TRACE_ID
    assert hex_parent(finished) == PARENT_ID
    assert inside == span.traceparent
    assert ids == (TRACE_ID, span.traceparent.split("-")[2])  # type: ignore[union-attr]
    assert current_traceparent() is None and current_trace_ids() is None  # outside again


def test_a_span_without_parent_inside_another_is_its_child(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    with tracer.span("outer") as outer, tracer.span("inner"):
        pass

    inner = spans_named(exporter, "inner")[0]
    assert hex_trace(inner) == trace_id_of(outer.traceparent)
    assert hex_parent(inner) == outer.traceparent.split("-")[2]  # type: ignore[union-attr]


def test_the_tracer_of_tracing_off_makes_nothing_per_call() -> None:
    assert NO_TRACER.start("a") is NO_TRACER.start("b") is NO_SPAN
    assert NO_TRACER.span("a") is NO_TRACER.span("b")
    with NO_TRACER.span("a") as span:
        assert span.traceparent is None


# Bus messages


def test_a_message_without_a_trace_leaves_the_field_off_the_wire() -> None:
    report = Report("started", uuid.uuid4(), 1, uuid.uuid4())

    assert "traceparent" not in report.to_dict()


def test_a_message_carries_its_trace_across_the_wire() -> None:
    report = Report("started", uuid.uuid4(), 1, uuid.uuid4(), traceparent=GIVEN)

    assert Report.from_dict(report.to_dict()).traceparent == GIVEN


def test_a_message_with_a_malformed_trace_is_refused() -> None:
    wire = {**Report("started", uuid.uuid4(), 1, uuid.uuid4()).to_dict(), "traceparent": "x"}

    with pytest.raises(ValueError, match="traceparent"):
        Report.from_dict(wire)


# One run's trace through the dispatcher, the worker and the save


def traced_trigger(rig: Rig, traceparent: str | None = GIVEN) -> uuid.UUID:
    created = rig.app.create_task(make_spec(name=f"t-{uuid.uuid4().hex[:6]}"), rig.ctx())
    ctx = CommandContext("op", rig.clock.now(), uuid.uuid4(), traceparent=traceparent)
    return rig.app.trigger_task(created.aggregate_id, ctx).aggregate_id


@pytest.fixture
def traced_rig(app: SchedulerApp, clock: object, tracer: OtelTracer) -> Rig:
    app.tracer = tracer  # before the dispatcher is built, as the composition root does
    return Rig(app, clock)  # type: ignore[arg-type]


def test_with_tracing_off_the_run_s_decisions_and_delivery_keep_its_trace(rig: Rig) -> None:
    worker = rig.worker("w")
    run_id = traced_trigger(rig)
    rig.dispatcher.step()

    (delivery,) = rig.inbox(worker)
    assert delivery.traceparent == GIVEN
    metadata = [e.metadata for e in rig.app.aggregate_events(run_id)]
    assert [m.get("traceparent") for m in metadata] == [GIVEN, GIVEN]  # Requested, Assigned


def test_the_dispatcher_s_decision_is_a_span_in_the_run_s_trace_and_the_worker_s_parent(
    traced_rig: Rig, exporter: InMemorySpanExporter
) -> None:
    worker = traced_rig.worker("w")
    run_id = traced_trigger(traced_rig)
    traced_rig.dispatcher.step()

    (delivery,) = traced_rig.inbox(worker)
    (decision,) = spans_named(exporter, "dispatcher.assign")
    assert hex_trace(decision) == TRACE_ID and hex_parent(decision) == PARENT_ID
    assert decision.attributes is not None
    assert decision.attributes["scheduler.run_id"] == str(run_id)
    assert delivery.traceparent == format_traceparent(decision.context)  # type: ignore[arg-type]


def test_recording_a_report_is_a_span_in_the_trace_the_report_carries(
    traced_rig: Rig, exporter: InMemorySpanExporter
) -> None:
    worker = traced_rig.worker("w")
    run_id = traced_trigger(traced_rig)
    traced_rig.dispatcher.step()
    (delivery,) = traced_rig.inbox(worker)
    started = Report("started", run_id, 1, worker, pid=1, traceparent=delivery.traceparent)
    traced_rig.bus.publish_report(started)
    traced_rig.dispatcher.step()

    (recording,) = spans_named(exporter, "dispatcher.record_report")
    assert hex_trace(recording) == TRACE_ID
    assert hex_parent(recording) == delivery.traceparent.split("-")[2]  # type: ignore[union-attr]
    assert recording.attributes is not None
    assert recording.attributes["scheduler.outcome"] == "applied"
    events = traced_rig.app.aggregate_events(run_id)
    assert type(events[-1]) is TaskRun.Started
    assert trace_id_of(events[-1].metadata["traceparent"]) == TRACE_ID


def test_a_save_in_a_traced_command_is_its_child(
    traced_rig: Rig, tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    with tracer.span("command", GIVEN) as command:
        ctx = CommandContext("op", traced_rig.clock.now(), uuid.uuid4(), traceparent=GIVEN)
        traced_rig.app.create_task(make_spec(name="saved"), ctx)

    saves = spans_named(exporter, "scheduler.save")
    assert saves and all(hex_trace(s) == TRACE_ID for s in saves)
    assert hex_parent(saves[-1]) == command.traceparent.split("-")[2]  # type: ignore[union-attr]


def test_a_batched_save_outside_a_trace_links_the_traces_of_its_events(
    traced_rig: Rig, exporter: InMemorySpanExporter
) -> None:
    traced_rig.worker("w")
    traced_trigger(traced_rig)
    exporter.clear()
    traced_rig.dispatcher.step()  # saves the assignment in the dispatcher's own batch

    linked = {
        f"{link.context.trace_id:032x}"
        for save in spans_named(exporter, "scheduler.save")
        for link in save.links
    }
    assert TRACE_ID in linked


def test_the_worker_s_execution_is_a_span_its_reports_carry(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    sent: list[tuple[Delivery, str]] = []
    delivery = Delivery(
        run_id=uuid.uuid4(),
        attempt=1,
        worker_id=uuid.uuid4(),
        task_name="t",
        executor="shell",
        command="false",
        traceparent=GIVEN,
    )
    attempt = AttemptReports(
        delivery, lambda d, kind, **_: sent.append((d, kind)), lambda: datetime.now(UTC), tracer
    )
    attempt.started(123)
    attempt.finished(ExecutionResult(1, "", "exit 1", False, 0.1, 123))

    (execution,) = spans_named(exporter, "worker.execute")
    assert hex_trace(execution) == TRACE_ID and hex_parent(execution) == PARENT_ID
    assert not execution.status.is_ok
    ours = format_traceparent(execution.context)  # type: ignore[arg-type]
    assert [(d.traceparent, kind) for d, kind in sent] == [(ours, "started"), (ours, "failed")]


def test_an_attempt_the_executor_declined_makes_no_span_and_a_crash_ends_it_failed(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    def attempt() -> AttemptReports:
        delivery = Delivery(
            run_id=uuid.uuid4(),
            attempt=1,
            worker_id=uuid.uuid4(),
            task_name="t",
            executor="callable",
            command="m:f",
            traceparent=GIVEN,
        )
        return AttemptReports(delivery, lambda *_, **__: None, lambda: datetime.now(UTC), tracer)

    attempt()  # declined: no callback ever came
    crashing = attempt()
    crashing.started(None)
    reported = crashing.crashed()

    (execution,) = spans_named(exporter, "worker.execute")
    assert not execution.status.is_ok
    assert reported.traceparent == format_traceparent(execution.context)  # type: ignore[arg-type]


def test_without_tracing_the_worker_reports_carry_the_delivery_s_trace() -> None:
    sent: list[Delivery] = []
    delivery = Delivery(
        run_id=uuid.uuid4(),
        attempt=1,
        worker_id=uuid.uuid4(),
        task_name="t",
        executor="shell",
        command="true",
        traceparent=GIVEN,
    )
    attempt = AttemptReports(delivery, lambda d, *_, **__: sent.append(d), datetime.now)
    attempt.finished(ExecutionResult(0, "", None, False, 0.1, 1))

    assert [d.traceparent for d in sent] == [GIVEN]


# Projections


class Counting(Projection):
    name = "counting"
    tables = ()

    @handles(TaskRun.Requested)
    def run_requested(self, event: object, position: int, tx: object) -> None:
        pass


def test_with_tracing_off_a_projection_applies_events_through_the_same_function() -> None:
    def apply(event: object, position: int) -> None:
        pass

    assert traced(apply, NO_TRACER, Counting()) is apply  # nothing made per event


def test_each_traced_event_a_projection_handles_is_a_span_in_the_event_s_trace(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    ctx = CommandContext("op", datetime.now(UTC), uuid.uuid4(), traceparent=GIVEN)
    untraced = CommandContext("op", datetime.now(UTC), uuid.uuid4())
    events = [
        *TaskRun.request(
            uuid.uuid4(), task_id=uuid.uuid4(), task_version=1, task={}, trigger="manual", ctx=ctx
        ).collect_events(),
        *TaskRun.request(
            uuid.uuid4(),
            task_id=uuid.uuid4(),
            task_version=1,
            task={},
            trigger="manual",
            ctx=untraced,
        ).collect_events(),
    ]
    applied: list[int] = []
    apply = traced(lambda _event, position: applied.append(position), tracer, Counting())
    for position, event in enumerate(events, start=1):
        apply(event, position)

    assert applied == [1, 2]
    (span,) = exporter.get_finished_spans()  # the untraced event has none
    assert span.name == "projection.apply" and span.kind is SpanKind.INTERNAL
    assert hex_trace(span) == TRACE_ID and hex_parent(span) == PARENT_ID
    assert span.attributes is not None
    assert span.attributes["scheduler.projection"] == "counting"
    assert span.attributes["scheduler.event"] == "TaskRun.Requested"


def test_a_cron_run_begins_a_trace_of_its_own(
    traced_rig: Rig, exporter: InMemorySpanExporter
) -> None:
    created = traced_rig.app.create_task(make_spec(name="cron"), traced_rig.ctx())
    nominal = traced_rig.clock.now()
    traced_rig.app.fire_cron([(created.aggregate_id, nominal)], [], "dispatcher", nominal)

    (fire,) = spans_named(exporter, "dispatcher.fire")
    assert fire.parent is None
    (requested,) = traced_rig.app.aggregate_events(TaskRun.fire_id(created.aggregate_id, nominal))
    assert requested.metadata["traceparent"] == format_traceparent(fire.context)  # type: ignore[arg-type]


def test_a_downstream_run_joins_its_upstream_run_s_trace(rig: Rig) -> None:
    worker = rig.worker("w")
    upstream = rig.app.create_task(make_spec(name="up"), rig.ctx()).aggregate_id
    rig.app.create_task(make_spec(name="down", depends_on=[str(upstream)]), rig.ctx())
    ctx = CommandContext("op", rig.clock.now(), uuid.uuid4(), traceparent=GIVEN)
    run_id = rig.app.trigger_task(upstream, ctx).aggregate_id
    rig.dispatcher.step()
    rig.app.record_reports([Report("succeeded", run_id, 1, worker, exit_code=0)], rig.clock.now())
    rig.dispatcher.step()

    downstream = [
        e
        for _, e in rig.app.read_log(0, 10_000)
        if isinstance(e, TaskRun.Requested) and e.task["name"] == "down"
    ]
    assert [e.metadata.get("traceparent") for e in downstream] == [GIVEN]
