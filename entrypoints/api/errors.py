"""Maps domain and infrastructure errors to HTTP answers that say what is wrong."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from adapters import database_errors
from application.circuit_breaker import CircuitOpenError
from domain.errors import (
    IllegalTransitionError,
    InvalidFieldError,
    NotFoundError,
    TaskDeletedError,
    TaskNameTakenError,
    VersionMismatchError,
)
from domain.task_spec import SpecValidationError
from entrypoints.api.middleware import BodyTooLargeError, body_too_large

logger = logging.getLogger(__name__)

# What a database that is down or restarting raises, from the event store and the views.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    *database_errors.DATABASE_DOWN,
)


def _problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(status_code=status, content=body)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # Only the leading location kind goes: a JSON key named "body" (http.body) stays.
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    return ".".join(str(p) for p in parts) or "body"


def install_error_handlers(api: FastAPI) -> None:
    """Register one handler per error family, so routes carry no try/except."""

    @api.exception_handler(RequestValidationError)
    def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return _problem(422, f"invalid request: {summary}", errors)

    @api.exception_handler(SpecValidationError)
    def invalid_spec(_: Request, error: SpecValidationError) -> JSONResponse:
        errors = [{"field": f, "message": m} for f, m in error.problems]
        return _problem(422, f"invalid task definition: {error}", errors)

    @api.exception_handler(InvalidFieldError)
    def invalid_field(_: Request, error: InvalidFieldError) -> JSONResponse:
        return _problem(422, str(error), [{"field": error.field, "message": error.message}])

    @api.exception_handler(BodyTooLargeError)
    def too_large(_: Request, error: BodyTooLargeError) -> JSONResponse:
        return _problem(413, body_too_large(error.max_bytes))

    @api.exception_handler(NotFoundError)
    def not_found(_: Request, error: NotFoundError) -> JSONResponse:
        return _problem(404, str(error))

    @api.exception_handler(TaskNameTakenError)
    def name_taken(_: Request, error: TaskNameTakenError) -> JSONResponse:
        return _problem(409, str(error))

    @api.exception_handler(VersionMismatchError)
    def version_mismatch(_: Request, error: VersionMismatchError) -> JSONResponse:
        return _problem(409, f"concurrent modification: {error}")

    @api.exception_handler(IllegalTransitionError)
    def illegal_transition(_: Request, error: IllegalTransitionError) -> JSONResponse:
        return _problem(409, str(error))

    @api.exception_handler(TaskDeletedError)
    def task_deleted(_: Request, error: TaskDeletedError) -> JSONResponse:
        return _problem(409, str(error))

    @api.exception_handler(IntegrityError)
    def conflict(_: Request, error: IntegrityError) -> JSONResponse:
        return _problem(409, "concurrent modification: another change was saved first; retry")

    def store_unavailable(request: Request, error: Exception) -> JSONResponse:
        logger.warning("database unavailable: %s: %s", type(error).__name__, error)
        request.app.state.container.breakers.get("database").record_failure(error)
        if database_errors.is_pool_timeout(error):
            # Within [database] connection_timeout_seconds: never a request that hangs.
            detail = (
                "no database connection became free in time (all busy, or the database is"
                " unreachable); retry shortly"
            )
        else:
            detail = "the database is unavailable; retry shortly"
        response = _problem(503, detail)
        response.headers["Retry-After"] = "1"
        return response

    for unavailable in DATABASE_DOWN:
        api.add_exception_handler(unavailable, store_unavailable)  # type: ignore[arg-type]

    @api.exception_handler(CircuitOpenError)
    def circuit_open(_: Request, error: CircuitOpenError) -> JSONResponse:
        response = _problem(503, str(error))
        response.headers["Retry-After"] = str(max(1, round(error.retry_after)))
        return response
