"""Builds the FastAPI application around a container."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Response
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware

from adapters.jwt_verifier import JwtVerifier
from adapters.key_directory import KeyDirectory
from entrypoints.api import (
    archives,
    audit,
    backfills,
    batch,
    configuration,
    event_stream,
    events,
    history,
    keys,
    logs,
    namespaces,
    providers,
    rebuilds,
    runs,
    subscriptions,
    system,
    tasks,
    what_if,
    worker_protocol,
    workers,
)
from entrypoints.api.authentication import AuthenticationMiddleware, Authenticator
from entrypoints.api.deps import MetricsDep
from entrypoints.api.edge import install_edge
from entrypoints.api.errors import install_error_handlers
from entrypoints.api.permissions import ROUTE_RIGHTS, Right, authorize
from entrypoints.api.prefer import read_prefer
from entrypoints.api.strict import StrictRoute
from entrypoints.bootstrap import Container
from entrypoints.live_config import LiveConfig
from entrypoints.settings import AuthSettings
from entrypoints.web.install import install_web

DESCRIPTION = """
An event-sourced distributed task scheduler. Commands (POST, PATCH, DELETE) append events
to the log and answer with the log position they reached (`X-Log-Position`); they return
after the read views that handle their events have applied it, so a following GET sees the
change (`Prefer: return=minimal` answers at once instead, marked `X-View-Stale: true`).
GETs read the views; `?min_position=N` waits (bounded) until the views reach position N.
Input is strict: an undeclared query parameter, a duplicate JSON key, a boolean for a number
or an integer beyond 64 bits is a 422 naming it.

Every route but `/health` needs a credential: `Authorization: Bearer <API key or JWT>` or
`X-API-Key: <API key>`. A missing or bad one is a 401 with `WWW-Authenticate`; one whose role
lacks the route's right is a 403 naming the right (docs/security.md has the table).
"""


def build_jwt_verifier(settings: AuthSettings) -> JwtVerifier | None:
    """The JWT verifier of `[auth]`, None when no JWT key is set (raises JwtKeyError)."""
    if not settings.jwt_enabled:
        return None
    return JwtVerifier(
        secret=settings.jwt_secret,
        public_key_file=settings.jwt_public_key_file,
        jwks_file=settings.jwt_jwks_file,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
    )


def create_api(container: Container, live: LiveConfig | None = None) -> FastAPI:
    """The HTTP API of one process; `live` is the configuration a reload swaps (else fixed)."""
    settings = container.settings
    live = live or LiveConfig.fixed(settings)
    api = FastAPI(
        title="scheduler",
        version="0.1.0",
        description=DESCRIPTION,
        dependencies=[Depends(authorize), Depends(read_prefer)],
    )
    key_directory = KeyDirectory(container.database)
    providers.attach(api, container, key_directory, live)
    api.router.route_class = StrictRoute  # routes declared on the app itself (/metrics)
    install_error_handlers(api)
    for module in (
        history,
        tasks,
        what_if,
        batch,
        backfills,
        runs,
        workers,
        worker_protocol,
        event_stream,
        events,
        system,
        logs,
        configuration,
        audit,
        archives,
        rebuilds,
        keys,
        namespaces,
        subscriptions,
    ):
        api.include_router(module.router)

    @api.get("/metrics", tags=["system"], include_in_schema=True)
    def metrics(metrics: MetricsDep) -> Response:
        """Prometheus metrics of this process (a credential, or the metrics token)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    _ensure_strict(api)
    _ensure_guarded(api)
    _public_routes_without_security(api)
    authenticator = Authenticator(
        settings.auth,
        key_directory,
        container.clock.now,
        build_jwt_verifier(settings.auth),
        settings.observability.metrics_token,
    )
    # The order of the middlewares matters: entrypoints/api/edge.py says why.
    api.state.rate_limiter = install_edge(
        api,
        live,
        container.metrics,
        container.breakers.get("database"),
        authentication=Middleware(
            AuthenticationMiddleware, authenticator=authenticator, metrics=container.metrics
        ),
        connection_timeout_seconds=settings.database.connection_timeout_seconds,
        tracer=container.tracer,
    )
    install_web(api, container, key_directory)  # the UI at /ui, outermost: assets, cookie, /docs
    return api


def _ensure_strict(api: FastAPI) -> None:
    """Refuse to start with a route that would silently accept unknown query parameters."""
    loose = [
        context.path
        for context in iter_route_contexts(api.routes)  # also inside included routers
        if isinstance(context.original_route, APIRoute)
        and not isinstance(context.original_route, StrictRoute)
    ]
    if loose:
        raise RuntimeError(
            f"routes not built with StrictRoute (entrypoints/api/strict.py): {loose}"
        )


def _ensure_guarded(api: FastAPI) -> None:
    """Refuse to start with a route the permission table does not name, or the reverse."""
    served = {
        (method, str(context.path))
        for context in iter_route_contexts(api.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    missing, stale = served - set(ROUTE_RIGHTS), set(ROUTE_RIGHTS) - served
    if missing or stale:
        raise RuntimeError(
            "entrypoints/api/permissions.py ROUTE_RIGHTS does not match the routes:"
            f" not in the table {sorted(missing)}; no such route {sorted(stale)}"
        )


def _public_routes_without_security(api: FastAPI) -> None:
    """The OpenAPI document declares the credential on every operation but the public ones."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = generate()  # also kept in api.openapi_schema, so this runs once
            for (method, path), right in ROUTE_RIGHTS.items():
                if right is Right.PUBLIC:
                    schema["paths"][path][method.lower()].pop("security", None)
            return schema
        return api.openapi_schema

    # Replacing the method is FastAPI's documented way to extend the OpenAPI document.
    api.openapi = openapi  # type: ignore[method-assign]
