"""Puts the UI's edge on the API: the session middleware, outermost, and offline docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from adapters.aes_secret_box import parse_keys
from adapters.key_directory import KeyDirectory
from entrypoints.bootstrap import Container
from entrypoints.web.app import create_web
from entrypoints.web.middleware import STATIC_PREFIX, WebMiddleware
from entrypoints.web.session import SessionSealer, derive_key

DOCS_ASSETS = f"{STATIC_PREFIX}/docs"


def install_web(api: FastAPI, container: Container, key_directory: KeyDirectory) -> None:
    """Call after the API's own middlewares, so that this one runs first."""
    keys = container.settings.secrets.keys
    sealer = SessionSealer(derive_key(parse_keys(keys)[0] if keys else None))
    api.mount("/ui", create_web(container, sealer, key_directory))

    async def home(_: Request) -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    api.add_route("/", home, include_in_schema=False)
    api.add_middleware(WebMiddleware, sealer=sealer)
    _offline_docs(api)


def _offline_docs(api: FastAPI) -> None:
    """/docs and /redoc with their scripts served from the package, not from a CDN."""
    docs = {api.docs_url, api.redoc_url}
    api.router.routes[:] = [r for r in api.router.routes if getattr(r, "path", None) not in docs]
    title = api.title

    async def swagger(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=api.openapi_url or "/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url=api.swagger_ui_oauth2_redirect_url,
        )

    async def redoc(_: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=api.openapi_url or "/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    api.add_route(api.docs_url or "/docs", swagger, include_in_schema=False)
    api.add_route(api.redoc_url or "/redoc", redoc, include_in_schema=False)
