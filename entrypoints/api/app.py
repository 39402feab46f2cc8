"""Builds the FastAPI application around a container."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from entrypoints.api import events, history, runs, system, tasks, workers
from entrypoints.api.edge import install_edge
from entrypoints.api.errors import install_error_handlers
from entrypoints.api.strict import StrictRoute
from entrypoints.bootstrap import Container

DESCRIPTION = """
An event-sourced distributed task scheduler. Commands (POST, PATCH, DELETE) append events
to the log and answer with the log position they reached (`X-Log-Position`); they return
after the read views have applied it, so a following GET sees the change. GETs read the views;
`?min_position=N` waits (bounded) until the views reach position N. Input is strict: an
undeclared query parameter, a duplicate JSON key, a boolean for a number or an integer beyond
64 bits is a 422 naming it.
"""


def create_api(container: Container) -> FastAPI:
    """The HTTP API of one process."""
    api = FastAPI(title="scheduler", version="0.1.0", description=DESCRIPTION)
    api.state.container = container
    api.router.route_class = StrictRoute  # routes declared on the app itself (/metrics)
    install_error_handlers(api)
    for module in (history, tasks, runs, workers, events, system):
        api.include_router(module.router)

    @api.get("/metrics", tags=["system"], include_in_schema=True)
    def metrics(request: Request) -> Response:
        """Prometheus metrics of this process."""
        registry = request.app.state.container.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    _ensure_strict(api)
    # The order of the middlewares matters: entrypoints/api/edge.py says why.
    api.state.rate_limiter = install_edge(
        api, container.settings.api, container.metrics, container.breakers.get("database")
    )
    return api


def _ensure_strict(api: FastAPI) -> None:
    """Refuse to start with a route that would silently accept unknown query parameters."""
    loose = [
        route.path
        for route in api.routes
        if isinstance(route, APIRoute) and not isinstance(route, StrictRoute)
    ]
    if loose:
        raise RuntimeError(
            f"routes not built with StrictRoute (entrypoints/api/strict.py): {loose}"
        )
