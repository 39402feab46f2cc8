"""What form posts share: field errors shown by the field, typed fields parsed."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from domain.errors import InvalidFieldError, TaskNameTakenError
from domain.task_spec import SpecValidationError


def field_errors(error: Exception) -> dict[str, str] | None:
    """The field -> message map of a refused definition, as the API's 422 names them."""
    if isinstance(error, ValidationError):
        return {
            ".".join(str(p) for p in e["loc"]) or "form": e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        }
    if isinstance(error, SpecValidationError):
        return dict(error.problems)
    if isinstance(error, InvalidFieldError):
        return {error.field: error.message}
    if isinstance(error, TaskNameTakenError):
        return {"name": str(error)}
    return None


def parse_json_object(text: str, field: str) -> dict[str, Any]:
    """A JSON object typed into a form (empty: none); InvalidFieldError names the field."""
    import orjson

    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidFieldError(field, f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise InvalidFieldError(field, 'must be a JSON object, e.g. {"day": "2026-01-01"}')
    return value


def form_int(form: dict[str, str], field: str) -> int:
    """An integer field of a form; InvalidFieldError names it."""
    text = form.get(field, "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise InvalidFieldError(field, "must be a whole number")
    return int(text)
