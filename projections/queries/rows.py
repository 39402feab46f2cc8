"""Stored values as the API shows them, for both dialects."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def as_datetime(value: Any) -> datetime | None:
    """Stored time as an aware datetime (SQLite keeps ISO text, PostgreSQL timestamptz)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def id_text(value: Any) -> str | None:
    """A stored id (UUID or text) as text; None stays None."""
    return None if value is None else str(value)


def escape_like(text: str) -> str:
    """The user's text matched literally by `LIKE ... ESCAPE '!'`: wildcards escaped with '!'."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
