"""The edge of the API: every middleware, in the one order that makes each of them right.

From the outside in, a request meets:
0. RequestContextMiddleware: the request's correlation id, bound for every log line written
   while it runs (refusals included) and returned as X-Correlation-Id.
1. ClientAddressMiddleware: who is calling (X-Forwarded-For from trusted proxies only), on
   `request.state.client_address`, before anything uses it.
2. SecurityHeadersMiddleware: outside every refusal below, so 403, 429, 413 and 503 carry
   the headers too; it also answers an unhandled error (500) with them.
2b. TraceMiddleware: the request's trace (a `traceparent` continued, or a new one), around
   every refusal below so that they answer with `traceparent` too (a malformed one: 422).
3. IpAllowlistMiddleware: an address outside `[api] ip_allowlist` gets 403 and learns
   nothing else, not even the CORS policy.
4. LiveCorsMiddleware (Starlette's CORSMiddleware for the origins in force): answers
   preflights; outside the limits so that a 429 or 401 reaches the
   browser's script readable (with Retry-After exposed) instead of as a network error.
5. RetryAfterMiddleware: every 503 from inside (keys unreadable, database down, the
   breaker open) carries Retry-After.
6. RateLimitMiddleware: per client address, 429 before authentication, body parsing or a
   database touch; it sees the 401s that come back out and throttles failed
   authentication per address.
7. The authentication middleware, when there is one (`authentication`): inside the limiter,
   so that its 401s are counted and a flood never reaches the key lookup.
8. PrincipalRateLimitMiddleware: per principal, now that authentication has named it
   (authentication done by a dependency instead calls `enforce_principal_limit`).
9. BodyLimitMiddleware: 413 for bodies over `[api] max_body_bytes` (declared or streamed).
10. LatencyMiddleware, then DatabaseBreakerMiddleware (503 while the database breaker is
   open), then ConnectionBudgetMiddleware (a request waits at most the connection timeout in
   all for pooled connections), then the routes.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.metrics import Metrics
from application.circuit_breaker import CircuitBreaker
from application.tracing import NO_TRACER, Tracer
from entrypoints.api.client_address import ClientAddressMiddleware
from entrypoints.api.ip_allowlist import IpAllowlistMiddleware
from entrypoints.api.middleware import (
    BodyLimitMiddleware,
    ConnectionBudgetMiddleware,
    DatabaseBreakerMiddleware,
    LatencyMiddleware,
    RetryAfterMiddleware,
)
from entrypoints.api.rate_limit import (
    PrincipalRateLimitMiddleware,
    RateLimiter,
    RateLimitMiddleware,
    RateLimits,
)
from entrypoints.api.request_context import RequestContextMiddleware
from entrypoints.api.security_headers import SecurityHeadersMiddleware
from entrypoints.api.tracing import TraceMiddleware
from entrypoints.live_config import Derived, LiveConfig
from entrypoints.networks import parse_networks
from entrypoints.settings import ApiSettings

CORS_METHODS = ("GET", "POST", "PATCH", "DELETE")
# What the API reads from a request, besides the CORS-safelisted headers.
CORS_REQUEST_HEADERS = (
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "X-Correlation-Id",
    "X-Actor",
    "traceparent",
)
# What a script may read from an answer, besides the safelisted ones.
CORS_RESPONSE_HEADERS = (
    "X-Log-Position",
    "X-View-Stale",
    "X-Correlation-Id",
    "Location",
    "Retry-After",
    "WWW-Authenticate",
    "traceparent",
)
CORS_MAX_AGE = 600  # seconds a browser may cache a preflight answer


def install_edge(
    api: FastAPI,
    live: LiveConfig,
    metrics: Metrics,
    database_breaker: CircuitBreaker,
    authentication: Middleware | None = None,
    connection_timeout_seconds: float | None = None,
    tracer: Tracer = NO_TRACER,
) -> RateLimiter:
    """Add the middlewares (Starlette runs the last added first, hence the reverse order).

    The rate limits, CORS origins and IP allowlist are read from `live` on each request, so
    a configuration reload changes them (entrypoints/live_config.py RELOADABLE); the rest of
    `[api]` is read once here.
    """
    settings = live.settings.api
    if connection_timeout_seconds is not None:
        api.add_middleware(ConnectionBudgetMiddleware, seconds=connection_timeout_seconds)
    api.add_middleware(DatabaseBreakerMiddleware, breaker=database_breaker)
    api.add_middleware(LatencyMiddleware, metrics=metrics)
    api.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    api.add_middleware(PrincipalRateLimitMiddleware)
    if authentication is not None:
        api.add_middleware(authentication.cls, *authentication.args, **authentication.kwargs)
    limiter = RateLimiter(rate_limits(settings), on_throttled=metrics.throttled)
    api.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        limits=lambda: rate_limits(live.settings.api),
    )
    api.add_middleware(RetryAfterMiddleware)
    api.add_middleware(LiveCorsMiddleware, live=live)
    api.add_middleware(
        IpAllowlistMiddleware,
        networks=Derived(live, lambda s: s.api.ip_allowlist, parse_networks),
        on_refused=metrics.address_refused,
    )
    api.add_middleware(TraceMiddleware, tracer=tracer)
    docs = {api.docs_url, api.redoc_url, api.swagger_ui_oauth2_redirect_url}
    api.add_middleware(
        SecurityHeadersMiddleware, docs_paths=frozenset(p for p in docs if p is not None)
    )
    api.add_middleware(
        ClientAddressMiddleware, trusted_proxies=parse_networks(settings.trusted_proxies)
    )
    api.add_middleware(RequestContextMiddleware)
    return limiter


def rate_limits(settings: ApiSettings) -> RateLimits:
    """The limits `[api]` sets."""
    return RateLimits(
        per_second=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        auth_failures_per_minute=settings.auth_failure_limit_per_minute,
        auth_failure_burst=settings.auth_failure_burst,
    )


class LiveCorsMiddleware:
    """Starlette's CORSMiddleware for the `[api] cors_origins` in force, rebuilt on a change."""

    def __init__(self, app: ASGIApp, live: LiveConfig) -> None:
        self._cors = Derived(live, lambda s: s.api.cors_origins, lambda o: _cors(app, o))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, or pass on with the CORS headers of the origins in force."""
        await self._cors.value(scope, receive, send)


def _cors(app: ASGIApp, origins: tuple[str, ...]) -> CORSMiddleware:
    return CORSMiddleware(
        app,
        allow_origins=list(origins),
        allow_methods=list(CORS_METHODS),
        allow_headers=list(CORS_REQUEST_HEADERS),
        expose_headers=list(CORS_RESPONSE_HEADERS),
        # Credentials travel in headers the script sets, never in cookies.
        allow_credentials=False,
        max_age=CORS_MAX_AGE,
    )
