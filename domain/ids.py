"""Identifiers as text: references in URLs, specs and commands."""

from __future__ import annotations

from uuid import UUID


def parse_uuid(text: str) -> UUID | None:
    """The UUID the text spells, or None when it is not one."""
    try:
        return UUID(text)
    except ValueError:
        return None


def is_task_number(ref: str) -> bool:
    """Whether a task reference is a number (ASCII digits only: "²" is not a number)."""
    return ref.isascii() and ref.isdigit()
