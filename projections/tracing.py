"""A span for each event a projection applies, in the trace the event's metadata names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from application.tracing import Attributes, Tracer
from projections.base import Projection

Apply = Callable[[Any, int], None]  # (event, position)


def traced(apply: Apply, tracer: Tracer, projection: Projection) -> Apply:
    """`apply` itself with tracing off; else the same, with a span per traced event it handles.

    An event without a trace context (recorded untraced, or before tracing) gets no span:
    a rebuild of an untraced log makes none.
    """
    if not tracer.enabled:
        return apply

    def apply_traced(event: Any, position: int) -> None:
        parent = (getattr(event, "metadata", None) or {}).get("traceparent")
        if parent is None or not projection.handles(event):
            apply(event, position)
            return
        attributes: Attributes = {
            "scheduler.projection": projection.name,
            "scheduler.event": get_topic(type(event)).removeprefix("scheduler:"),
            "scheduler.position": position,
            "scheduler.aggregate_id": str(event.originator_id),
        }
        with tracer.span("projection.apply", parent, attributes):
            apply(event, position)

    return apply_traced
