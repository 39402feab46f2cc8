"""429 with Retry-After: token buckets per client address, per principal, per failed login.

Every request takes a token from its client address's bucket and, once authenticated, from
its principal's bucket (`request.state.principal.actor`), so one noisy client cannot starve
the others and one credential used from many addresses is still one client. A 401 takes a
token from the address's much smaller failed-authentication bucket; while that one is empty
every request from the address is refused before authentication is even tried. /health and
/metrics take from a probe bucket of their own, so a busy client never makes an orchestrator
see a dead process, and probes never use up a client's tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.api.token_bucket import TokenBuckets

PROBE_PATHS = frozenset({"/health", "/metrics"})
PROBE_RATE, PROBE_BURST = 20.0, 40  # per address: far above any orchestrator or scraper
CHARGED = "rate_limit_principal_charged"  # scope state: the principal paid on the way in


@dataclass(frozen=True)
class RateLimits:
    """`[api]` rate_limit_* and auth_failure_*; a rate of 0 turns that limit off."""

    per_second: float = 100.0
    burst: int = 200
    auth_failures_per_minute: float = 10.0
    auth_failure_burst: int = 10


class RateLimiter:
    """The buckets of one API process (a cluster of N API processes allows N times as much)."""

    def __init__(
        self,
        limits: RateLimits,
        on_throttled: Callable[[str], None] = lambda _reason: None,
        **bucket_options: Any,
    ) -> None:
        self._on_throttled = on_throttled
        self._bucket_options = bucket_options
        self.probes = TokenBuckets(PROBE_RATE, PROBE_BURST, **bucket_options)
        self._use(limits)

    def reconfigure(self, limits: RateLimits) -> None:
        """Apply other limits (a configuration reload): their buckets start full."""
        if limits != self.limits:
            self._use(limits)

    def _use(self, limits: RateLimits) -> None:
        options = self._bucket_options
        on = limits.per_second > 0
        self.addresses = TokenBuckets(limits.per_second, limits.burst, **options) if on else None
        self.principals = TokenBuckets(limits.per_second, limits.burst, **options) if on else None
        failures_on = limits.auth_failures_per_minute > 0
        self.failures = (
            TokenBuckets(limits.auth_failures_per_minute / 60, limits.auth_failure_burst, **options)
            if failures_on
            else None
        )
        self.limits = limits  # last: a request that sees these limits finds their buckets

    def check_request(self, path: str, address: str, principal: Any) -> tuple[str, float] | None:
        """(reason, seconds to wait) when the request must be refused, else None."""
        if path in PROBE_PATHS:
            return self._take("probe", self.probes, address)
        if self.failures is not None and (wait := self.failures.wait(address)) > 0:
            return self._refused("auth_failures", wait)
        refused = self._take("address", self.addresses, address)
        if refused is None and principal is not None:
            refused = self.check_principal(principal)
        return refused

    def check_principal(self, principal: Any) -> tuple[str, float] | None:
        """Take the principal's token: (reason, wait) when it has none.

        The anonymous loopback caller is everyone on this host at once, each already limited
        by its own address: one shared bucket would let one local client starve the others.
        """
        if getattr(principal, "kind", None) == "anonymous":
            return None
        return self._take("principal", self.principals, principal_key(principal))

    def record_status(self, path: str, address: str, status: int) -> None:
        """A 401 costs the address one failed-authentication token."""
        if status == 401 and self.failures is not None and path not in PROBE_PATHS:
            self.failures.take(address)

    def _take(
        self, reason: str, buckets: TokenBuckets | None, key: str
    ) -> tuple[str, float] | None:
        if buckets is None:
            return None
        wait = buckets.take(key)
        return self._refused(reason, wait) if wait > 0 else None

    def _refused(self, reason: str, wait: float) -> tuple[str, float]:
        self._on_throttled(reason)
        return reason, wait

    def detail(self, reason: str) -> str:
        """What a 429 says: which limit, its size, per what."""
        limits = self.limits
        if reason == "auth_failures":
            return (
                "too many failed authentications from this address: at most "
                f"{limits.auth_failure_burst}, then {limits.auth_failures_per_minute:g} per minute"
            )
        if reason == "probe":
            return f"too many requests to this endpoint: at most {PROBE_RATE:g} per second"
        per = "client address" if reason == "address" else "credential"
        return (
            f"rate limit exceeded: {limits.per_second:g} requests per second "
            f"(bursts of {limits.burst}) per {per}"
        )


def principal_key(principal: Any) -> str:
    """The bucket of a principal: its actor (`key:NAME`, `jwt:SUB`, `anonymous@loopback`)."""
    return str(getattr(principal, "actor", None) or principal)


def retry_after(wait: float) -> str:
    """Whole seconds, rounded up, at least 1 (Retry-After takes no fractions)."""
    return str(max(1, math.ceil(wait)))


class RateLimitMiddleware:
    """Refuses with 429 and Retry-After before the request reaches authentication or a route."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        limits: Callable[[], RateLimits] | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self._limits = limits  # the limits in force, read on each request (a reload swaps them)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the buckets, pass on, and charge a 401 to the address afterwards."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._limits is not None:
            self.limiter.reconfigure(self._limits())
        state = scope.setdefault("state", {})
        state["rate_limiter"] = self.limiter
        path, address = scope["path"], state.get("client_address") or _peer(scope)
        principal = state.get("principal")  # known here only if authenticated further out
        refused = self.limiter.check_request(path, address, principal)
        if refused is not None:
            await _send_429(send, self.limiter.detail(refused[0]), refused[1])
            return
        state[CHARGED] = principal is not None
        status = {"code": 0}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.limiter.record_status(path, address, status["code"])


class PrincipalRateLimitMiddleware:
    """Charges the principal that an authentication middleware further out has just set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """429 when the principal's bucket is empty; else pass on."""
        state = scope.get("state") or {}
        limiter: RateLimiter | None = state.get("rate_limiter")
        principal = state.get("principal")
        if scope["type"] == "http" and limiter and principal is not None and not state.get(CHARGED):
            state[CHARGED] = True
            refused = limiter.check_principal(principal)
            if refused is not None:
                await _send_429(send, limiter.detail(refused[0]), refused[1])
                return
        await self.app(scope, receive, send)


def enforce_principal_limit(request: Request) -> None:
    """For authentication that runs inside the app (a dependency): charge the principal now.

    Raises:
        HTTPException: 429 with Retry-After when the principal's bucket is empty.
    """
    limiter: RateLimiter | None = getattr(request.state, "rate_limiter", None)
    principal = getattr(request.state, "principal", None)
    if limiter is None or principal is None or getattr(request.state, CHARGED, False):
        return
    setattr(request.state, CHARGED, True)
    refused = limiter.check_principal(principal)
    if refused is not None:
        raise HTTPException(
            429, limiter.detail(refused[0]), headers={"Retry-After": retry_after(refused[1])}
        )


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _send_429(send: Send, detail: str, wait: float) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", retry_after(wait).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps({"detail": detail})})
