"""Jinja2 rendering: the layout's context (who, what they may do, CSRF, language) and filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup, escape

from domain.principal import Principal
from entrypoints.api import providers
from entrypoints.api.permissions import Right, has_right
from entrypoints.web.i18n import LANG_COOKIE, choose_language, translate
from entrypoints.web.session import COOKIE, SESSION_SECONDS, Session

TEMPLATES = Path(__file__).with_name("templates")


def as_time(value: Any) -> datetime | None:
    """A datetime from what a resource holds (datetime or ISO text)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


def time_tag(value: Any, zone: str | None = None) -> Markup:
    """A <time>: UTC on hover; the script shows it in the browser's zone, or in `zone`."""
    moment = as_time(value)
    if moment is None:
        return Markup("&ndash;")
    utc = moment.astimezone(UTC)
    iso = utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    if zone:  # the task's own zone, rendered here: the script leaves it as it is
        local = utc.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
        return Markup('<time datetime="{0}" title="{0} UTC" data-zone="{1}">{2} {1}</time>').format(
            iso, zone, local
        )
    return Markup('<time datetime="{0}" title="{0} UTC">{0}</time>').format(iso)


@pass_context
def status_tag(context: Mapping[str, Any], status: Any) -> Markup:
    """A coloured status badge in the page's language (the status itself on hover)."""
    raw = str(status or "-")
    shown = translate(str(context.get("lang") or "en"), raw)
    if shown == raw:
        return Markup('<span class="status status-{0}">{0}</span>').format(escape(raw))
    return Markup('<span class="status status-{0}" title="{0}">{1}</span>').format(raw, shown)


ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.filters["time"] = time_tag
ENVIRONMENT.filters["status"] = status_tag


def session_of(request: Request) -> tuple[Session, bool]:
    """The request's session, or a new anonymous one (True: the cookie must be set)."""
    session: Session | None = getattr(request.state, "web_session", None)
    if session is not None:
        return session, False
    return providers.get_session_sealer(request).new(None), True


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    """HttpOnly, SameSite=Strict, Secure when the request came over TLS."""
    response.set_cookie(
        COOKIE,
        providers.get_session_sealer(request).seal(session),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=bool(getattr(request.state, "via_https", False)),
    )


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page inside the layout, with the session cookie made when there was none."""
    session, fresh = session_of(request)
    sealer = providers.get_session_sealer(request)
    language = choose_language(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
    )
    page = ENVIRONMENT.get_template(template).render(
        request=request,
        principal=principal,
        may=lambda right: principal is not None and has_right(principal, Right(right)),
        csrf=sealer.csrf_token(session),
        lang=language,
        _=lambda text: translate(language, text),
        head=_head(request),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(page, status_code=status_code)
    if fresh:
        set_session_cookie(request, response, session)
    return response


def _head(request: Request) -> int:
    """Where the page's stream starts: the views' position before its queries, else the log's."""
    noted = getattr(request.state, "views_position", None)
    if isinstance(noted, int):
        return noted
    try:
        return providers.get_app(request).head_position()
    except Exception:  # a page still renders when the log cannot be read
        return 0
