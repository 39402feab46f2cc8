"""The ids a log line carries where they are known: bound by the code that knows them.

Plain `contextvars`, so the application binds them without knowing how records are
formatted or shipped (adapters/log_format.py reads them into every record). A context
follows the code it was bound in: a thread pool or an event loop task started inside it
sees it too, a thread started elsewhere does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from uuid import UUID

# The fields, in the order a line shows them.
LOG_FIELDS = (
    "correlation_id",
    "trace_id",
    "span_id",
    "run_id",
    "attempt",
    "task_id",
    "worker_id",
    "principal",
)
Value = str | int | UUID | None

EMPTY: Mapping[str, str | int] = MappingProxyType({})

_bound: ContextVar[Mapping[str, str | int]] = ContextVar("log_context", default=EMPTY)


def current_log_context() -> Mapping[str, str | int]:
    """The fields bound where the caller runs (empty outside any context)."""
    return _bound.get()


def bind_log_context(**fields: Value) -> Token[Mapping[str, str | int]]:
    """Add fields to the current context until `unbind_log_context(token)`; None is skipped.

    Raises:
        ValueError: a name that is not one of LOG_FIELDS.
    """
    unknown = sorted(set(fields) - set(LOG_FIELDS))
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(unknown)}")
    given = {k: v if isinstance(v, int) else str(v) for k, v in fields.items() if v is not None}
    return _bound.set({**_bound.get(), **given})


def unbind_log_context(token: Token[Mapping[str, str | int]]) -> None:
    """Restore the context as it was before the bind that returned `token`."""
    _bound.reset(token)


@contextmanager
def log_context(**fields: Value) -> Iterator[None]:
    """The fields bound for the block's duration (nested blocks add to them)."""
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        unbind_log_context(token)
