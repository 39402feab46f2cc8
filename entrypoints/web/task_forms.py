"""Create and edit a task through a form; a refused definition is shown by its fields."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from domain.errors import DomainError
from domain.principal import Principal
from domain.task_spec import TaskSpec
from entrypoints.api.deps import AppDep, ContextDep, ReferencesDep, ViewsDep
from entrypoints.api.permissions import PrincipalDep, check_task_executors, require_executors
from entrypoints.api.strict import StrictRoute
from entrypoints.web.actions import field_errors
from entrypoints.web.forms import FormDep, back_to
from entrypoints.web.templating import render

router = APIRouter(route_class=StrictRoute, include_in_schema=False)
TEXT_FIELDS = ("name", "description", "executor", "command", "timezone", "priority", "queue")
NUMBER_FIELDS = ("retry_count", "timeout_seconds")
EXECUTORS = ("shell", "python", "http", "callable")
PRIORITIES = ("low", "normal", "high", "critical")
DEFAULTS = {
    "executor": "shell",
    "timezone": "UTC",
    "priority": "normal",
    "queue": "default",
    "retry_count": "0",
    "timeout_seconds": "3600",
}


def definition(form: dict[str, str]) -> dict[str, Any]:
    """The task fields a form sets (a blank schedule: manual only)."""
    data: dict[str, Any] = {f: form.get(f, "").strip() for f in TEXT_FIELDS}
    data["schedule"] = form.get("schedule", "").strip() or None
    for field in NUMBER_FIELDS:
        text = form.get(field, "").strip()
        data[field] = int(text) if text.lstrip("-").isdigit() and len(text) < 12 else text
    return data


def _form_page(
    request: Request,
    principal: Principal,
    values: dict[str, Any],
    errors: dict[str, str],
    task: dict[str, Any] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "task_form.html",
        principal,
        422 if errors else 200,
        values=values,
        errors=errors,
        task=task,
        executors=EXECUTORS,
        priorities=PRIORITIES,
    )


@router.get("/tasks/new", response_class=HTMLResponse)
def new_task(request: Request, principal: PrincipalDep) -> HTMLResponse:
    """The empty form."""
    return _form_page(request, principal, dict(DEFAULTS), {})


@router.post("/tasks")
def create_task(
    request: Request,
    app: AppDep,
    views: ViewsDep,
    ctx: ContextDep,
    principal: PrincipalDep,
    form: FormDep,
) -> Response:
    """Create the task, or show the form again with each refused field marked."""
    values = definition(form)
    require_executors(request, principal, {values["executor"]})
    try:
        spec = TaskSpec.model_validate(values)
        result = app.create_task(spec, ctx)
    except (ValidationError, DomainError) as error:
        errors = field_errors(error)
        if errors is None:
            raise
        return _form_page(request, principal, {**form, **values}, errors)
    views.settle(result.position)
    return back_to(f"/ui/tasks/{result.aggregate_id}")


@router.get("/tasks/{ref}/edit", response_class=HTMLResponse)
def edit_task(
    ref: str,
    request: Request,
    references: ReferencesDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    """The form, filled with the current definition."""
    task = references.resource(ref).task
    values = {f: task.get(f) for f in (*TEXT_FIELDS, *NUMBER_FIELDS, "schedule")}
    return _form_page(request, principal, values, {}, task)


@router.post("/tasks/{ref}/edit")
def update_task(
    ref: str,
    request: Request,
    app: AppDep,
    references: ReferencesDep,
    views: ViewsDep,
    ctx: ContextDep,
    principal: PrincipalDep,
    form: FormDep,
) -> Response:
    """Save the changed fields (the whole result is validated again)."""
    task_id: UUID = references.task_id(ref)
    current = references.resource(ref).task
    values = definition(form)
    check_task_executors(request, principal, app, task_id, values["executor"])
    changes = {k: v for k, v in values.items() if current.get(k) != v}
    try:
        result = app.update_task(task_id, changes, ctx, None)
    except (ValidationError, DomainError) as error:
        errors = field_errors(error)
        if errors is None:
            raise
        return _form_page(request, principal, {**form, **values}, errors, current)
    views.settle(result.position)
    return back_to(f"/ui/tasks/{task_id}")
