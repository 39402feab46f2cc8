"""OpenTelemetry: the one module that knows it. Everything else carries `traceparent` strings.

`build_tracer` makes a process's tracer (the SDK, exporting over OTLP/HTTP); the functions
below read and write W3C trace contexts with the API's own propagator, with or without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from application.tracing import Attributes, AttributeValue, Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

PROPAGATOR = TraceContextTextMapPropagator()
SERVER = SpanKind.SERVER
EXPORT_DELAY_MILLIS = 1000  # spans wait at most this long in the batch before they are sent
TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path under the collector's base URL


def parse_traceparent(text: str) -> SpanContext | None:
    """The span context a W3C `traceparent` names; None if it is malformed or all zeros."""
    context = PROPAGATOR.extract({"traceparent": text})
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def format_traceparent(span_context: SpanContext) -> str:
    """The W3C `traceparent` (version 00) of a span context."""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{int(span_context.trace_flags):02x}"
    )


def remote_context(traceparent: str | None) -> Context | None:
    """A context whose current span is the remote one named (None: none, or malformed)."""
    span_context = parse_traceparent(traceparent) if traceparent else None
    if span_context is None:
        return None
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def current_traceparent() -> str | None:
    """The `traceparent` of this thread's current span (ours or a caller's), None if none."""
    span_context = trace.get_current_span().get_span_context()
    return format_traceparent(span_context) if span_context.is_valid else None


def current_trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, for log records; None outside a trace."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


class OtelSpan:
    """A span of the SDK, as the application's Span port."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    @property
    def traceparent(self) -> str | None:
        """Its W3C trace context."""
        return format_traceparent(self.span.get_span_context())

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Record an attribute."""
        self.span.set_attribute(key, value)

    def fail(self, message: str) -> None:
        """Set the error status."""
        self.span.set_status(Status(StatusCode.ERROR, message))

    def end(self) -> None:
        """End the span."""
        self.span.end()


class OtelTracer:
    """The application's Tracer over an SDK tracer provider."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("scheduler")

    def start(
        self,
        name: str,
        parent: str | None = None,
        attributes: Attributes | None = None,
        links: Sequence[str] = (),
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> OtelSpan:
        """Open a span: a child of `parent`, else of the current span, else a new trace."""
        span = self._tracer.start_span(
            name,
            context=remote_context(parent),
            kind=kind,
            attributes=attributes,
            links=_links(links),
        )
        return OtelSpan(span)

    @contextmanager
    def span(
        self,
        name: str,
        parent: str | None = None,
        attributes: Attributes | None = None,
        links: Sequence[str] = (),
    ) -> Iterator[OtelSpan]:
        """A span that is current inside the block; an exception marks it failed."""
        opened = self.start(name, parent, attributes, links)
        with trace.use_span(opened.span, end_on_exit=True, record_exception=True):
            yield opened

    def shutdown(self) -> None:
        """Export what is buffered, then stop the exporter."""
        self.provider.shutdown()


def _links(traceparents: Sequence[str]) -> list[Link]:
    contexts = (parse_traceparent(t) for t in traceparents)
    return [Link(c) for c in contexts if c is not None]


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base URL (a full .../v1/traces is kept)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def build_tracer(
    process: str, endpoint: str | None, exporter: SpanExporter | None = None
) -> OtelTracer:
    """A tracer whose spans name this process (`scheduler-<process>`) and go to `endpoint`.

    `exporter` replaces the OTLP exporter (tests give an in-memory one; spans then export
    as they end). Without either, spans are made but go nowhere: trace ids still reach
    events, answers and logs. The SDK is imported here: with tracing off it is never loaded.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create(
        {
            "service.name": f"scheduler-{process}",
            "service.namespace": "scheduler",
            "scheduler.process": process,
            "process.pid": os.getpid(),
        }
    )
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=traces_url(endpoint)),
                schedule_delay_millis=EXPORT_DELAY_MILLIS,
            )
        )
    return OtelTracer(provider)


class InvalidTraceparentError(ValueError):
    """A `traceparent` header that is not a W3C trace context."""


class RequestTrace:
    """One HTTP request's trace: the caller's context continued, with our server span in it.

    With tracing off there is no span: the given context (normalised to version 00) is
    current while the request runs, so the events it records and the answer carry it.
    """

    def __init__(self, tracer: Tracer, given: str | None, method: str, path: str) -> None:
        parent = remote_context(given) if given is not None else None
        if given is not None and parent is None:
            raise InvalidTraceparentError(
                "traceparent must be a W3C trace context: 00-<32 hex trace id>-<16 hex"
                f" parent id>-<2 hex flags>, not all zeros; got {given[:100]!r}"
            )
        self._span: trace.Span | None = None
        self._method = method
        if isinstance(tracer, OtelTracer):
            self._span = tracer.start(
                method, given, {"http.request.method": method, "url.path": path}, (), SERVER
            ).span
            context = trace.set_span_in_context(self._span)
        else:
            assert parent is not None  # a request without one is not traced when tracing is off
            context = parent
        self.traceparent = format_traceparent(trace.get_current_span(context).get_span_context())
        self._token = attach(context)

    def close(self, status: int, route: str | None) -> None:
        """Leave the request's context; end the span, named by the route template."""
        detach(self._token)
        if self._span is None:
            return
        self._span.set_attribute("http.response.status_code", status)
        if route is not None:
            self._span.set_attribute("http.route", route)
            self._span.update_name(f"{self._method} {route}")
        if status >= 500:
            self._span.set_status(Status(StatusCode.ERROR))
        self._span.end()
