"""The process's tracer, from `[observability]`."""

from __future__ import annotations

import logging

from application.tracing import NO_TRACER, Tracer
from entrypoints.settings import Settings

logger = logging.getLogger(__name__)


def open_tracer(settings: Settings, process: str) -> Tracer:
    """The process's tracer: NO_TRACER unless `[observability] tracing_enabled`."""
    observability = settings.observability
    if not observability.tracing_enabled:
        return NO_TRACER
    if observability.otlp_endpoint is None:
        logger.warning(
            "tracing_enabled without [observability] otlp_endpoint: traces are continued and"
            " their ids recorded, but no span is exported"
        )
    from adapters.tracing import build_tracer  # OpenTelemetry's SDK, only when tracing

    return build_tracer(process, observability.otlp_endpoint)
