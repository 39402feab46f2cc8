"""Who may use which page and form of the UI: the right of the API route each one mirrors.

The UI is its own application mounted at /ui, outside the API's route table and OpenAPI
document; create_web refuses to start with a route missing here, or an entry naming none.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from entrypoints.api.permissions import (
    Right,
    count_forbidden,
    current_principal,
    forbid,
    has_right,
)

T, R = "/tasks/{ref}", "/runs/{run_id}"
UI_RIGHTS: dict[tuple[str, str], Right] = {
    ("GET", "/"): Right.READ,
    ("GET", "/login"): Right.PUBLIC,
    ("POST", "/login"): Right.PUBLIC,
    ("POST", "/logout"): Right.PUBLIC,
    ("GET", "/tasks"): Right.READ,
    ("GET", "/tasks/new"): Right.EDIT_TASKS,
    ("POST", "/tasks"): Right.EDIT_TASKS,
    ("GET", T): Right.READ,
    ("GET", f"{T}/edit"): Right.EDIT_TASKS,
    ("POST", f"{T}/edit"): Right.EDIT_TASKS,
    ("POST", f"{T}/delete"): Right.EDIT_TASKS,
    ("POST", f"{T}/rollback"): Right.EDIT_TASKS,
    ("POST", f"{T}/pause"): Right.OPERATE,
    ("POST", f"{T}/resume"): Right.OPERATE,
    ("POST", f"{T}/trigger"): Right.OPERATE,
    ("GET", "/runs"): Right.READ,
    ("GET", R): Right.READ,
    ("POST", f"{R}/cancel"): Right.OPERATE,
    ("GET", "/workers"): Right.READ,
    ("POST", "/workers/{worker_id}/drain"): Right.OPERATE,
    ("GET", "/events"): Right.READ,
    ("GET", "/system"): Right.READ,
    ("POST", "/system/projections/{name}/rebuild"): Right.REBUILD,
    ("POST", "/system/audit/verify"): Right.OPERATE,
    ("GET", "/keys"): Right.MANAGE_KEYS,
}


def authorize_page(request: Request) -> None:
    """403 for a caller whose role lacks the page's right (the controls are not shown either)."""
    route: Any = request.scope["route"]
    right = UI_RIGHTS[(request.method, route.path)]
    if right is Right.PUBLIC:
        return
    principal = current_principal(request)
    if not has_right(principal, right):
        raise forbid(request, principal, right, f"{request.method} /ui{route.path}")
    if principal.namespaces is not None:
        # The pages show every namespace (and the live log): not for a key scoped to some.
        count_forbidden(request)
        raise HTTPException(
            status_code=403,
            detail=f"forbidden: the web UI shows every namespace; {principal.actor} is scoped "
            "to some (use the API with ?namespace=)",
        )
