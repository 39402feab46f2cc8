"""Every request's log lines carry its correlation id (and, once known, its principal)."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from application.log_context import bind_log_context, unbind_log_context
from domain.ids import parse_uuid

HEADER = b"x-correlation-id"


def request_correlation_id(scope: Scope) -> uuid.UUID:
    """The caller's X-Correlation-Id when it is a UUID, else a new one."""
    given = dict(scope.get("headers") or []).get(HEADER)
    parsed = parse_uuid(given.decode("latin-1")) if given and len(given) <= 100 else None
    return parsed or uuid.uuid4()


class RequestContextMiddleware:
    """Binds the request's correlation id for its log lines and returns it as X-Correlation-Id.

    The commands of the request record the same id in their events' metadata
    (`request.state.correlation_id`, read by entrypoints/api/deps.py).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the id around the request; add the header to the answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = request_correlation_id(scope)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        header = (HEADER, str(correlation_id).encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        token = bind_log_context(correlation_id=correlation_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            unbind_log_context(token)
