"""ASGI middleware: refuse oversized bodies (413), time requests, bound database waits (503)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.connection_budget import connection_wait_budget
from adapters.metrics import Metrics
from application.circuit_breaker import CircuitBreaker, CircuitOpenError


class BodyTooLargeError(Exception):
    """The request body passed the configured limit while streaming."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(body_too_large(max_bytes))
        self.max_bytes = max_bytes


def body_too_large(max_bytes: int) -> str:
    """The detail of a 413."""
    return f"request body is larger than the limit of {max_bytes} bytes"


class BodyLimitMiddleware:
    """Answers 413 when a body is larger than `max_bytes`, declared or streamed.

    A streamed (chunked) body is counted as it is read: the route that reads it gets
    BodyTooLargeError, which the API's error handlers answer with 413 (errors.py); one raised
    outside a route is answered here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length up front and count streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and _declares_more(declared, self.max_bytes):
            await self._refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLargeError:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"detail": body_too_large(self.max_bytes)})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _declares_more(content_length: bytes, max_bytes: int) -> bool:
    if not (content_length.isascii() and content_length.isdigit()):
        return False  # the server refuses a malformed length before the app sees it
    digits = content_length.lstrip(b"0") or b"0"
    # The length first: int() refuses thousands of digits with a ValueError.
    return len(digits) > len(str(max_bytes)) or int(digits) > max_bytes


class LatencyMiddleware:
    """Observes each request's duration by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request; label it by its route template, not the raw path."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.metrics.api_latency.labels(
                method=scope["method"], route=template, status=str(status["code"])
            ).observe(time.perf_counter() - started)


class ConnectionBudgetMiddleware:
    """Each request waits at most `seconds` in all for pooled database connections.

    Past that its next checkout fails at once (PoolTimeout, answered 503 with Retry-After),
    so a request never hangs on an exhausted pool or an unreachable server, whatever number
    of queries it makes (/health makes several).
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request inside its own wait budget (threads it uses inherit it)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with connection_wait_budget(self.seconds):
            await self.app(scope, receive, send)


class RetryAfterMiddleware:
    """Every 503 says when to retry: `Retry-After: 1` unless its handler set one (/health)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the header to a 503 that lacks it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_retry_after(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                headers = list(message.get("headers") or [])
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"retry-after", b"1")]}
            await send(message)

        await self.app(scope, receive, send_with_retry_after)


class DatabaseBreakerMiddleware:
    """Fails /api requests fast (503) while the database breaker is open; closes it on success."""

    def __init__(self, app: ASGIApp, breaker: CircuitBreaker) -> None:
        self.app = app
        self.breaker = breaker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse while open; let one trial through when half-open."""
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        try:
            self.breaker.allow()
        except CircuitOpenError as error:
            await _send_json(
                send,
                503,
                {"detail": str(error)},
                [(b"retry-after", str(max(1, round(error.retry_after))).encode())],
            )
            return
        status: dict[str, int] = {"code": 500}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)
        # 503 is how the error handlers report an unreachable database (and they record the
        # failure); any other answer means the database answered.
        if status["code"] != 503:
            self.breaker.record_success()


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(body)})
