"""The UI's edge, outside the API's: static assets, the session cookie, sign-in redirects.

It runs outermost, so the API's authentication sees a signed-in browser as a request with
`Authorization: Bearer <the session's key>` and checks it as any other: revoked or expired
keys are refused on the next page. The cookie is honoured only on the UI's own paths and the
event stream, never on the JSON API, whose writes carry no CSRF token.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.web.session import COOKIE, Session, SessionSealer

STATIC_PREFIX = "/ui/static"
STREAM_PATH = "/api/events/stream"
LOGIN_PATH = "/ui/login"
STATIC_DIR = Path(__file__).with_name("static")
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")


def is_ui_path(path: str) -> bool:
    """Whether a path is one of the UI's pages or forms."""
    return path in ("/", "/ui") or (path.startswith("/ui/") and not path.startswith(STATIC_PREFIX))


def static_assets() -> ASGIApp:
    """The UI's own files and the offline Swagger UI / ReDoc bundles."""
    return Router(
        routes=[
            Mount(
                f"{STATIC_PREFIX}/docs",
                app=StaticFiles(packages=[("fastapi_offline", "static")]),
            ),
            Mount(STATIC_PREFIX, app=StaticFiles(directory=STATIC_DIR)),
        ]
    )


class WebMiddleware:
    """Serves assets before authentication, turns the cookie into a credential, and sends a
    browser that is not signed in to the sign-in page."""

    def __init__(self, app: ASGIApp, sealer: SessionSealer) -> None:
        self.app = app
        self.sealer = sealer
        self.assets = static_assets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route assets, attach the session, and redirect refused page views."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(STATIC_PREFIX + "/"):
            await self.assets(scope, receive, _with_nosniff(send))
            return
        if not (is_ui_path(path) or path == STREAM_PATH):
            await self.app(scope, receive, send)
            return
        session = self._session(scope)
        scope.setdefault("state", {})["web_session"] = session
        headers = scope.get("headers") or []
        has_credential = any(name.lower() in CREDENTIAL_HEADERS for name, _ in headers)
        if session is not None and session.key and not has_credential:
            scope["headers"] = [*headers, (b"authorization", f"Bearer {session.key}".encode())]
        if scope["method"] == "GET" and is_ui_path(path) and path != LOGIN_PATH:
            send = _redirect_refused(scope, send)
        await self.app(scope, receive, send)

    def _session(self, scope: Scope) -> Session | None:
        for name, value in scope.get("headers") or []:
            if name.lower() == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed Cookie header: no session
                    return None
                if COOKIE in cookie:
                    return self.sealer.open(cookie[COOKIE].value)
        return None


def _with_nosniff(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).setdefault("x-content-type-options", "nosniff")
        await send(message)

    return sending


def _redirect_refused(scope: Scope, send: Send) -> Send:
    """A 401 on a page view becomes a redirect to the sign-in page (its body is dropped)."""
    redirected = False

    async def sending(message: Message) -> None:
        nonlocal redirected
        if message["type"] == "http.response.start" and message["status"] == 401:
            redirected = True
            target = scope["path"] + (
                "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            )
            location = f"{LOGIN_PATH}?next={quote(target, safe='')}"
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                }
            )
            return
        if redirected:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await send({"type": "http.response.body", "body": b""})
            return
        await send(message)

    return sending
