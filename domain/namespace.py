"""Namespaces: the name rule, the default, and which namespaces a key or a worker covers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from domain.errors import InvalidFieldError

DEFAULT_NAMESPACE = "default"  # what every resource stored before namespaces belongs to
ALL_NAMESPACES = "*"  # a key or a worker that covers every namespace
# A DNS label: a namespace may one day name a database, a schema or a host (docs/scaling.md).
NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
NAMESPACE_RULE = (
    "1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit"
)
MAX_NAMESPACES = 100  # on one key or one worker


def namespace_problem(name: object) -> str | None:
    """Why `name` is not a namespace name, or None when it is one."""
    if not isinstance(name, str) or not NAMESPACE_PATTERN.match(name):
        shown = repr(name)[:80]
        return f"{shown} is not a namespace: {NAMESPACE_RULE}"
    return None


def checked_namespace(name: object, field: str = "namespace") -> str:
    """`name` when it is a namespace name.

    Raises:
        InvalidFieldError: naming `field`, when it is not.
    """
    problem = namespace_problem(name)
    if problem is not None:
        raise InvalidFieldError(field, problem)
    return str(name)


def checked_namespaces(names: Iterable[object], field: str = "namespaces") -> list[str]:
    """Namespace names (or "*" alone for all), distinct, in the order given.

    Raises:
        InvalidFieldError: naming `field`, for an empty list, a bad name or "*" beside names.
    """
    chosen = list(dict.fromkeys(names))
    if not chosen:
        raise InvalidFieldError(field, 'name at least one namespace, or "*" for all')
    if len(chosen) > MAX_NAMESPACES:
        raise InvalidFieldError(field, f"at most {MAX_NAMESPACES} namespaces")
    if ALL_NAMESPACES in chosen:
        if len(chosen) > 1:
            raise InvalidFieldError(field, '"*" (all namespaces) stands alone')
        return [ALL_NAMESPACES]
    return [checked_namespace(name, field) for name in chosen]


def covers(namespaces: Iterable[str] | None, namespace: str) -> bool:
    """Whether a key's or a worker's namespaces include `namespace` (None: all)."""
    if namespaces is None:
        return True
    chosen = set(namespaces)
    return ALL_NAMESPACES in chosen or namespace in chosen


def namespace_of(spec: Mapping[str, Any]) -> str:
    """The namespace of a task definition or a run's snapshot of it (older ones: default)."""
    value = spec.get("namespace")
    return value if isinstance(value, str) and value else DEFAULT_NAMESPACE
