"""A run or worker as the caller may see it: from its view, else its events; 404 outside the
caller's namespaces, as if it did not exist."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Response

from domain.errors import NotFoundError
from entrypoints.api.deps import parse_id, parse_run_id
from entrypoints.api.namespace_scope import NamespaceScope
from entrypoints.api.views import Views
from projections.history import History
from projections.queries import ReadModel


def visible_run(
    run_id: str,
    scope: NamespaceScope,
    views: Views,
    read_model: ReadModel,
    history: History,
    response: Response,
) -> dict[str, Any]:
    """The run, 404 unless the caller sees its namespace."""
    key = parse_run_id(run_id)
    run = views.view_or_log(response, key, read_model.run, history.run_from_log)
    if run is None:
        raise NotFoundError("run", run_id)
    scope.ensure_resource(run, "run", run_id)
    return run


def visible_worker(
    worker_id: str,
    scope: NamespaceScope,
    views: Views,
    read_model: ReadModel,
    history: History,
    response: Response,
) -> tuple[UUID, dict[str, Any]]:
    """The worker's id and resource, 404 unless it serves a namespace the caller sees."""
    key = parse_id("worker", worker_id)
    worker = views.view_or_log(response, key, read_model.worker, history.worker_from_log)
    if worker is None:
        raise NotFoundError("worker", worker_id)
    scope.ensure_worker(worker, worker_id)
    return key, worker
