"""Numeric field types that do not take a boolean for a number.

pydantic's lax mode turns `true` into 1 for an `int` or `float` field, so `"retry_count": true`
would silently mean one retry. Every numeric field a caller sets uses these instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def refuse_bool(value: Any) -> Any:
    """Pass any value on, except a boolean, which is refused as not a number."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "bool_is_not_a_number",
            "must be a number, not the boolean {value}",
            {"value": "true" if value else "false"},
        )
    return value


Integer = Annotated[int, BeforeValidator(refuse_bool)]
Number = Annotated[float, BeforeValidator(refuse_bool)]
