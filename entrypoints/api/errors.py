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
    AggregateUnreadableError,
    ApiKeyNameTakenError,
    IllegalTransitionError,
    InvalidFieldError,
    NamespaceExistsError,
    NotFoundError,
    TaskDeletedError,
    TaskNameTakenError,
    VersionMismatchError,
)
from domain.task_spec import SpecValidationError
from entrypoints.api.json_response import OrjsonResponse
from entrypoints.api.middleware import BodyTooLargeError, body_too_large
from entrypoints.api.providers import get_breakers

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
    return OrjsonResponse(status_code=status, content=body)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # Only the leading location kind goes: a JSON key named "body" (http.body) stays.
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    return ".".join(str(p) for p in parts) or "body"


# Domain errors answered with their own message: error class -> (status, prefix).
PLAIN: dict[type[Exception], tuple[int, str]] = {
    NotFoundError: (404, ""),
    TaskNameTakenError: (409, ""),
    ApiKeyNameTakenError: (409, ""),
    NamespaceExistsError: (409, ""),
    VersionMismatchError: (409, "concurrent modification: "),
    IllegalTransitionError: (409, ""),
    TaskDeletedError: (409, ""),
    AggregateUnreadableError: (409, ""),
}


def invalid_request(_: Request, error: Exception) -> JSONResponse:
    """422 naming every field a request got wrong."""
    assert isinstance(error, RequestValidationError)
    errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return _problem(422, f"invalid request: {summary}", errors)


def invalid_spec(_: Request, error: Exception) -> JSONResponse:
    """422 naming every field of a task definition the domain refuses."""
    assert isinstance(error, SpecValidationError)
    errors = [{"field": f, "message": m} for f, m in error.problems]
    return _problem(422, f"invalid task definition: {error}", errors)


def invalid_field(_: Request, error: Exception) -> JSONResponse:
    """422 naming the one field."""
    assert isinstance(error, InvalidFieldError)
    return _problem(422, str(error), [{"field": error.field, "message": error.message}])


def too_large(_: Request, error: Exception) -> JSONResponse:
    """413 with the limit."""
    assert isinstance(error, BodyTooLargeError)
    return _problem(413, body_too_large(error.max_bytes))


def plain(_: Request, error: Exception) -> JSONResponse:
    """The status PLAIN gives the error's class, with its message."""
    status, prefix = next(v for cls, v in PLAIN.items() if isinstance(error, cls))
    return _problem(status, f"{prefix}{error}")


def conflict(_: Request, error: Exception) -> JSONResponse:
    """409: another writer saved first."""
    return _problem(409, "concurrent modification: another change was saved first; retry")


def store_unavailable(request: Request, error: Exception) -> JSONResponse:
    """503 with Retry-After; the database breaker learns of the failure."""
    logger.warning("database unavailable: %s: %s", type(error).__name__, error)
    get_breakers(request).get("database").record_failure(error)
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


def circuit_open(_: Request, error: Exception) -> JSONResponse:
    """503 until the breaker's next trial call."""
    assert isinstance(error, CircuitOpenError)
    response = _problem(503, str(error))
    response.headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return response


def install_error_handlers(api: FastAPI) -> None:
    """Register one handler per error family, so routes carry no try/except."""
    handlers: dict[type[Exception], Any] = {
        RequestValidationError: invalid_request,
        SpecValidationError: invalid_spec,
        InvalidFieldError: invalid_field,
        BodyTooLargeError: too_large,
        IntegrityError: conflict,
        CircuitOpenError: circuit_open,
        **dict.fromkeys(PLAIN, plain),
        **dict.fromkeys(DATABASE_DOWN, store_unavailable),
    }
    for error_class, handler in handlers.items():
        api.add_exception_handler(error_class, handler)
