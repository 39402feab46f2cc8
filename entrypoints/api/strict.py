"""Strict routes: what FastAPI would silently accept is a 422 that names it.

Every route of the API is a StrictRoute (create_api checks it), so these rules hold for any
route added later without a line in the route itself:
- a query parameter the route does not declare is refused (`POST /api/tasks?dry_run=true`
  must not create a task), and so is a repeated single-valued one;
- a JSON body with a duplicate key, an integer beyond 64 bits (or of thousands of digits) or
  NaN is refused, naming where it is (entrypoints/api/strict_json.py).
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, get_args, get_origin

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

from entrypoints.api.strict_json import StrictJsonError, parse_json

MULTI_VALUED = (list, tuple, set, frozenset)


class StrictJsonRequest(Request):
    """A request whose JSON body was parsed (strictly) before FastAPI asks for it."""

    parsed: Any = None

    async def json(self) -> Any:
        """The body parsed by parse_json in StrictRoute."""
        return self.parsed


class StrictRoute(APIRoute):
    """An APIRoute that refuses undeclared query parameters and ambiguous JSON bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, behind the query and body checks."""
        handler = super().get_route_handler()
        declared = dict(_declared_query(self.dependant))
        reads_body = self.body_field is not None

        async def strict_handler(request: Request) -> Response:
            _refuse_undeclared_query(request, declared)
            strict = StrictJsonRequest(request.scope, request.receive)
            if reads_body:
                # Read here, outside FastAPI's body handling, which answers any failure
                # (also a streamed body over the limit) with a bare 400.
                body = await strict.body()
                if body and _is_json(strict):
                    strict.parsed = _parse(body)
            return await handler(strict)

        return strict_handler


def _declared_query(dependant: Dependant) -> Iterator[tuple[str, bool]]:
    """(name, multi-valued) of every query parameter the route and its dependencies declare."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        pending += current.dependencies
        for field in current.query_params:
            annotation = field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                for name, info in annotation.model_fields.items():  # a query model
                    yield info.alias or name, _multi_valued(info.annotation)
            else:
                yield field.alias, _multi_valued(annotation)


def _multi_valued(annotation: Any) -> bool:
    if get_origin(annotation) in MULTI_VALUED:
        return True
    return any(_multi_valued(arg) for arg in get_args(annotation))


def _refuse_undeclared_query(request: Request, declared: dict[str, bool]) -> None:
    errors = []
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            message = f"unknown query parameter {name!r} (this route takes: {known})"
            errors.append(_error(("query", name), message, request.query_params[name]))
        elif not declared[name] and len(values := request.query_params.getlist(name)) > 1:
            message = f"query parameter {name!r} is given {len(values)} times; give it once"
            errors.append(_error(("query", name), message, values))
    if errors:
        raise RequestValidationError(errors)


def _is_json(request: Request) -> bool:
    # The same test FastAPI uses to decide that a body is JSON.
    content_type = request.headers.get("content-type")
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _parse(body: bytes) -> Any:
    try:
        return parse_json(body)
    except StrictJsonError as error:
        raise RequestValidationError(
            [_error(("body", *p.path), p.message, None) for p in error.problems]
        ) from None


def _error(loc: tuple[Any, ...], message: str, value: Any) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": message, "input": value}
