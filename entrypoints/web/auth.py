"""Sign in with an API key (or go on anonymously where loopback access is enabled); sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from adapters.key_directory import KeyDirectory
from application.ports import Clock
from entrypoints.api.deps import ClockDep, KeyDirectoryDep, SessionSealerDep
from entrypoints.api.strict import StrictRoute
from entrypoints.web.forms import FormDep
from entrypoints.web.session import COOKIE
from entrypoints.web.templating import render, set_session_cookie

router = APIRouter(route_class=StrictRoute, include_in_schema=False)
Next = Annotated[str, Query(max_length=2_000)]


def safe_next(target: str) -> str:
    """Only a path of this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Next = "/") -> HTMLResponse:
    """The sign-in form."""
    return render(request, "login.html", None, next=safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    form: FormDep,
    directory: KeyDirectoryDep,
    clock: ClockDep,
    sealer: SessionSealerDep,
) -> Response:
    """Check the key, then keep it in the sealed session cookie."""
    key = form.get("api_key", "").strip()
    target = safe_next(form.get("next", "/"))
    error = await run_in_threadpool(_key_problem, directory, clock, key)
    if error:
        return render(request, "login.html", None, 401, next=target, error=error)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, sealer.new(key))
    return response


@router.post("/logout")
def logout(request: Request, form: FormDep) -> RedirectResponse:
    """Forget the session."""
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# Why a key cannot sign in, as the page says it (entrypoints/web/i18n.py translates each).
LOGIN_PROBLEMS = {
    "empty": "Enter an API key.",
    "unknown": "Unknown API key.",
    "expired": "This API key is expired.",
    "revoked": "This API key is revoked.",
    "worker": "A worker key cannot sign in to the UI.",
}


def _key_problem(directory: KeyDirectory, clock: Clock, key: str) -> str | None:
    """Why the key cannot sign in (None: it can); the API checks it again on every page."""
    if not key:
        return LOGIN_PROBLEMS["empty"]
    directory.refresh()
    row = directory.find(key)
    if row is None:
        return LOGIN_PROBLEMS["unknown"]
    status = row.status(clock.now())
    if status != "active":
        return LOGIN_PROBLEMS.get(status, f"This API key is {status}.")
    if row.role == "worker":
        return LOGIN_PROBLEMS["worker"]
    return None
