"""Who may call what: the one route x role table, and the dependency that enforces it.

Every route of the API names the right it needs here; create_api refuses to start with a
route missing from the table (or an entry naming no route), and docs/security.md prints the
table from this module (`python -m entrypoints.api.permissions`).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Protocol
from uuid import UUID

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from domain.principal import ROLES, Principal
from entrypoints.api.providers import get_metrics

if TYPE_CHECKING:
    from domain.task import Task

logger = logging.getLogger(__name__)


class Right(StrEnum):
    """What a route needs."""

    PUBLIC = "public"  # no credential at all
    READ = "read"  # every resource, events and metrics; secrets stay masked
    OPERATE = "operate"  # trigger, pause, resume, cancel, drain, subscriptions
    BACKFILL = "backfill"  # execute or cancel a backfill (many runs at once)
    EDIT_TASKS = "edit_tasks"  # create, update, delete, roll back tasks run by http/callable
    EDIT_CODE_TASKS = "edit_code_tasks"  # the same for shell and python tasks (code on workers)
    READ_LOGS = "read_logs"  # the log records of every process (GET /api/system/logs)
    QUARANTINE = "quarantine"  # retry or release held aggregates
    REBUILD = "rebuild"  # rebuild a projection's read tables from the log
    MANAGE_KEYS = "manage_keys"  # create, list, revoke API keys
    MANAGE_NAMESPACES = "manage_namespaces"  # create namespaces, change their limits
    READ_CONFIG = "read_config"  # the effective configuration (secrets masked): admin only
    WORKER = "worker"  # register a worker and heartbeat for it (HTTP workers)


ROLE_RIGHTS: dict[str, frozenset[Right]] = {
    "viewer": frozenset({Right.READ}),
    "operator": frozenset({Right.READ, Right.OPERATE, Right.READ_LOGS}),
    "editor": frozenset(
        {Right.READ, Right.OPERATE, Right.READ_LOGS, Right.EDIT_TASKS, Right.BACKFILL}
    ),
    "admin": frozenset(Right) - {Right.PUBLIC},
    "worker": frozenset({Right.WORKER}),
}
assert set(ROLE_RIGHTS) == set(ROLES)

# Executors whose tasks run code of the task's author on the workers: admin only.
CODE_EXECUTORS = frozenset({"shell", "python"})

T, R, W, S, K = "/api/tasks/{ref}", "/api/runs/{run_id}", "/api/workers", "/api/system", "/api/keys"
ROUTE_RIGHTS: dict[tuple[str, str], Right] = {
    ("GET", "/health"): Right.PUBLIC,
    ("GET", "/metrics"): Right.READ,
    ("GET", "/api/tasks"): Right.READ,
    ("POST", "/api/tasks"): Right.EDIT_TASKS,
    ("GET", T): Right.READ,
    ("PATCH", T): Right.EDIT_TASKS,
    ("DELETE", T): Right.EDIT_TASKS,
    ("POST", f"{T}/pause"): Right.OPERATE,
    ("POST", f"{T}/resume"): Right.OPERATE,
    ("POST", f"{T}/trigger"): Right.OPERATE,
    ("POST", f"{T}/trigger/batch"): Right.OPERATE,
    ("GET", f"{T}/runs"): Right.READ,
    ("GET", f"{T}/history"): Right.READ,
    ("GET", f"{T}/diff"): Right.READ,
    ("POST", f"{T}/rollback"): Right.EDIT_TASKS,
    ("POST", f"{T}/backfill"): Right.READ,  # a dry run; executing needs backfill (the route)
    ("POST", f"{T}/preview"): Right.READ,  # a what-if: saves nothing
    ("GET", "/api/backfills/{backfill_id}"): Right.READ,
    ("POST", "/api/backfills/{backfill_id}/cancel"): Right.BACKFILL,
    ("GET", "/api/runs"): Right.READ,
    ("GET", R): Right.READ,
    ("GET", f"{R}/events"): Right.READ,
    ("POST", f"{R}/cancel"): Right.OPERATE,
    ("GET", W): Right.READ,
    ("POST", W): Right.WORKER,
    ("GET", f"{W}/{{worker_id}}"): Right.READ,
    ("GET", f"{W}/{{worker_id}}/history"): Right.READ,
    ("POST", f"{W}/{{worker_id}}/heartbeat"): Right.WORKER,
    ("POST", f"{W}/{{worker_id}}/poll"): Right.WORKER,
    ("POST", f"{R}/attempts/{{attempt}}/report"): Right.WORKER,
    ("POST", f"{W}/{{worker_id}}/drain"): Right.OPERATE,
    ("GET", "/api/events"): Right.READ,
    ("GET", "/api/events/stream"): Right.READ,
    ("GET", "/api/events/forensics/assigned-after-lost"): Right.READ,
    ("GET", f"{S}/stats"): Right.READ,
    ("GET", f"{S}/audit"): Right.READ,
    ("POST", f"{S}/audit/verify"): Right.OPERATE,  # a walk over the log: not for every viewer
    ("GET", f"{S}/archives"): Right.READ,
    ("POST", f"{S}/archives/verify"): Right.OPERATE,  # reads every archive file
    ("GET", f"{S}/quarantine"): Right.READ,
    ("GET", f"{S}/config"): Right.READ_CONFIG,
    ("GET", f"{S}/logs"): Right.READ_LOGS,
    ("POST", f"{S}/quarantine/{{aggregate_id}}/{{action}}"): Right.QUARANTINE,
    ("GET", f"{S}/projections/{{name}}/rebuild"): Right.READ,
    ("POST", f"{S}/projections/{{name}}/rebuild"): Right.REBUILD,
    ("GET", K): Right.MANAGE_KEYS,
    ("POST", K): Right.MANAGE_KEYS,
    ("DELETE", f"{K}/{{ref}}"): Right.MANAGE_KEYS,
    ("GET", "/api/namespaces"): Right.READ,
    ("POST", "/api/namespaces"): Right.MANAGE_NAMESPACES,
    ("GET", "/api/namespaces/{name}"): Right.READ,
    ("PATCH", "/api/namespaces/{name}"): Right.MANAGE_NAMESPACES,
    ("GET", "/api/subscriptions"): Right.READ,
    ("POST", "/api/subscriptions"): Right.OPERATE,
    ("GET", "/api/subscriptions/{subscription_id}"): Right.READ,
    ("DELETE", "/api/subscriptions/{subscription_id}"): Right.OPERATE,
    ("POST", "/api/subscriptions/{subscription_id}/replay"): Right.OPERATE,
}
# Served outside the route table, without a credential: they describe the API, hold no data.
PUBLIC_PATHS = frozenset(
    {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    | {"/ui/login", "/ui/logout"}  # the web UI's sign-in and sign-out (entrypoints/web/rights.py)
)
NOTES = {
    Right.EDIT_TASKS: "editor: only tasks whose executor is http or callable (before and after)",
    Right.WORKER: "worker: heartbeats, polls and reports only for the workers its own key"
    " registered",
    Right.READ: "/metrics also takes `[observability] metrics_token`",
    Right.BACKFILL: "POST /api/tasks/{ref}/backfill needs read for a dry run and backfill to "
    "execute",
    Right.READ_LOGS: "operators and above: the logs name hosts, workers and callers",
}

bearer_scheme = HTTPBearer(
    auto_error=False, description="An API key (`sk_...`) or a JWT, as a bearer token."
)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


def roles_with(right: Right) -> list[str]:
    """The roles that have a right, in ROLES order."""
    return [role for role in ROLES if right in ROLE_RIGHTS[role]]


def has_right(principal: Principal, right: Right) -> bool:
    """Whether the principal's role grants the right (public needs none)."""
    return right is Right.PUBLIC or right in ROLE_RIGHTS.get(principal.role, frozenset())


def forbid(request: Request, principal: Principal, right: Right, what: str) -> HTTPException:
    """A 403 naming the right and the roles that have it; logged and counted."""
    roles = ", ".join(roles_with(right))
    detail = (
        f"forbidden: {what} needs the right {right.value!r} (roles: {roles});"
        f" {principal.actor} has the role {principal.role!r}"
    )
    logger.warning(
        "request forbidden",
        extra={"action": "auth_denied", "actor": principal.actor, "right": right.value},
    )
    count_forbidden(request)
    return HTTPException(status_code=403, detail=detail)


def count_forbidden(request: Request) -> None:
    """Count a refusal in scheduler_auth_denied_total."""
    get_metrics(request).auth_denied.labels(reason="forbidden").inc()


def current_principal(request: Request) -> Principal:
    """The principal the authentication middleware found for this request."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a public path: nothing authenticated the caller
        raise HTTPException(status_code=401, detail="this route needs a credential")
    return principal


def authorize(
    request: Request,
    _bearer: Annotated[object, Security(bearer_scheme)] = None,
    _key: Annotated[object, Security(api_key_scheme)] = None,
) -> None:
    """Refuse (403) a caller whose role lacks the right the route needs (ROUTE_RIGHTS)."""
    route = request.scope["route"]
    right = ROUTE_RIGHTS[(request.method, route.path)]  # every route is there (create_api)
    if right is Right.PUBLIC:
        return
    principal = current_principal(request)
    if not has_right(principal, right):
        raise forbid(request, principal, right, f"{request.method} {route.path}")


def may_write_code_tasks(principal: Principal) -> bool:
    """Whether the principal may write shell and python tasks (else only http, callable)."""
    return has_right(principal, Right.EDIT_CODE_TASKS)


def require_executors(request: Request, principal: Principal, executors: set[str]) -> None:
    """Writing a task that runs (or ran) under these executors needs edit_code_tasks for
    shell and python; the route already checked edit_tasks."""
    code = sorted(executors & CODE_EXECUTORS)
    if code and not may_write_code_tasks(principal):
        what = f"writing a task with executor {code[0]!r}"
        raise forbid(request, principal, Right.EDIT_CODE_TASKS, what)


class TaskDefinitions(Protocol):
    """The write side's tasks, at any version."""

    def get_task(self, task_id: UUID, version: int | None = None) -> Task: ...


def check_task_executors(
    request: Request,
    principal: Principal,
    tasks: TaskDefinitions,
    task_id: UUID,
    *more: str | None,
    version: int | None = None,
) -> None:
    """403 unless the principal may write tasks run by the task's executor (now, at
    `version`, and the ones named in `more`): editors only http and callable tasks."""
    if may_write_code_tasks(principal):
        return
    executors = {str(tasks.get_task(task_id).spec["executor"])}
    if version is not None:
        executors.add(str(tasks.get_task(task_id, version=version).spec["executor"]))
    require_executors(request, principal, executors | {m for m in more if m})


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def markdown_table() -> str:
    """The route x role table as Markdown (docs/security.md prints it)."""
    header = "| Method | Path | Right | " + " | ".join(ROLES) + " |"
    lines = [header, "|" + "---|" * (3 + len(ROLES))]
    for (method, path), right in sorted(ROUTE_RIGHTS.items(), key=lambda i: (i[0][1], i[0][0])):
        cells = ["yes" if has_right(_probe(role), right) else "-" for role in ROLES]
        if right is Right.EDIT_TASKS:
            cells[ROLES.index("editor")] = "http, callable"
        lines.append(f"| {method} | `{path}` | {right.value} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- `{right.value}`: {note}" for right, note in NOTES.items()]
    lines.append(
        "- `"
        + Right.EDIT_CODE_TASKS.value
        + "` (admin): writing tasks whose executor is shell or python"
    )
    return "\n".join(lines) + "\n"


def _probe(role: str) -> Principal:
    return Principal(kind="key", name="probe", role=role)


if __name__ == "__main__":
    print(markdown_table(), end="")
