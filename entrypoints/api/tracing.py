"""ASGI middleware: continue the caller's W3C `traceparent` (or start a trace) and return it."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.tracing import InvalidTraceparentError, RequestTrace
from application.tracing import Tracer

# Without a traceparent these start no trace: probes and scrapes would bury the real ones.
UNTRACED_PATHS = frozenset({"/health", "/metrics"})


class TraceMiddleware:
    """Each request runs in its trace; the answer's `traceparent` names our span in it.

    With tracing off only a request that brings a `traceparent` has one: it is current while
    the request runs (its events record it) and it comes back unchanged (version 00). A
    malformed one is a 422 naming the header.
    """

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Open the request's trace around the rest of the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"traceparent")
        if given is None and (not self.tracer.enabled or scope["path"] in UNTRACED_PATHS):
            await self.app(scope, receive, send)
            return
        try:
            request_trace = RequestTrace(self.tracer, given, scope["method"], scope["path"])
        except InvalidTraceparentError as error:
            await _refuse(send, str(error))
            return
        header = (b"traceparent", request_trace.traceparent.encode())
        status = 500

        async def send_with_traceparent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_traceparent)
        finally:
            route = scope.get("route")
            request_trace.close(status, getattr(route, "path", None))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:  # ASGI names are lower case
            return str(value.decode("latin-1"))
    return None


async def _refuse(send: Send, message: str) -> None:
    body = {"detail": message, "errors": [{"field": "traceparent", "message": message}]}
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(body)})
