"""In-process API for route tests: a real SQLite store, the real app, no server, no subprocess.

Each test names the routes it exercises with `@exercises(METHOD, PATH)`; the `api` fixture
checks that it really called them, and test_every_route.py that every route is named.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from application.tracing import Tracer
from domain.context import CommandContext
from entrypoints.api.app import create_api
from entrypoints.bootstrap import Container, build_container
from entrypoints.settings import load_settings

LOOPBACK = ("127.0.0.1", 50_000)  # the anonymous admin of the development configuration
Route = tuple[str, str]  # (method, path template)
F = TypeVar("F", bound=Callable[..., Any])


def exercises(method: str, path: str) -> Callable[[F], F]:
    """Declare that the test calls the route `method path` (the template, as routed)."""

    def mark(test: F) -> F:
        test.__dict__["routes"] = getattr(test, "routes", set()) | {(method, path)}
        return test

    return mark


class RouteRecorder:
    """Remembers the route template of every request it passes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: set[Route] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        route = scope.get("route")  # set by the router in the request's scope
        if scope["type"] == "http" and isinstance(route, APIRoute):
            self.seen.add((scope["method"], route.path))


class Caller:
    """A synchronous HTTP client that calls the ASGI app in process (no server, no socket)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self._app = app
        self._headers = headers

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; the app runs its sync routes in its thread pool as under uvicorn."""

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app, client=LOOPBACK)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers=self._headers
            ) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@dataclass
class Api:
    """The API of one in-process container, and clients for its callers."""

    container: Container
    app: FastAPI
    recorder: RouteRecorder

    def client(self, key: str | None = None, **headers: str) -> Caller:
        """A caller from loopback: the anonymous admin, or the holder of `key`."""
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return Caller(self.recorder, headers)

    def key(self, role: str) -> str:
        """A new API key of `role`, usable at once."""
        issued = self.container.app.create_api_key(f"{role}-{uuid.uuid4().hex[:8]}", role, ctx())
        assert self.container.waiter.wait(
            issued.position, self.container.projection_names, timeout=10
        )
        self.app.state.key_directory.refresh()
        return issued.secret

    def catch_up(self) -> None:
        """Wait until every view has applied the whole log."""
        head = self.container.app.head_position()
        assert self.container.waiter.wait(head, self.container.projection_names, timeout=10)


def ctx() -> CommandContext:
    """A command context for setting the scene without the API."""
    return CommandContext("route-test", datetime.now(UTC), uuid.uuid4())


def open_api(
    directory: Path, tracer: Tracer | None = None, environ: dict[str, str] | None = None
) -> Iterator[Api]:
    """An API over a fresh SQLite store in `directory`, projecting in threads."""
    settings = load_settings(
        None,
        {
            "SCHEDULER_DATABASE__URL": f"sqlite:///{directory / 'routes.db'}",
            "SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK": "true",
            "SCHEDULER_API__RATE_LIMIT_PER_SECOND": "0",
            **(environ or {}),
        },
    )
    container = build_container(settings, tracer=tracer)
    try:
        container.start_projections()
        app = create_api(container)
        yield Api(container, app, RouteRecorder(app))
    finally:
        container.close()
