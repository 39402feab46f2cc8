"""How a `callable` call ended, as an ExecutionResult: its return value or its exception."""

from __future__ import annotations

import traceback
from types import TracebackType

import orjson

from adapters.executors.model import ExecutionResult

TRACEBACK_TAIL_BYTES = 4_096  # the innermost frames say where it broke; enough for a page


def returned(value: object, duration: float, pid: int | None, limit: int) -> ExecutionResult:
    """Success; the output is the return value as JSON, or its repr when it is not JSON."""
    return ExecutionResult(0, cap_head(value_text(value), limit), None, False, duration, pid)


def raised(
    error: BaseException, duration: float, pid: int | None, skip_frames: int = 1
) -> ExecutionResult:
    """Failure with exit code 1 (as a Python process that dies of it): type, message and
    the tail of the traceback, without the executor's own `skip_frames` frames."""
    trace = error.__traceback__
    for _ in range(skip_frames):
        trace = trace.tb_next if trace is not None else None
    return ExecutionResult(1, "", error_text(error, trace), False, duration, pid)


def value_text(value: object) -> str:
    """JSON text of `value`, else a marker line and its repr (a repr that raises is named)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        try:
            shown = repr(value)
        except Exception as error:  # a broken __repr__ must not fail a run that succeeded
            shown = f"<{type(value).__qualname__} object; repr raised {type(error).__name__}>"
        return (
            f"[return value is not JSON-serialisable ({type(value).__qualname__}); repr:]\n{shown}"
        )


def error_text(error: BaseException, trace: TracebackType | None) -> str:
    """`Type: message`, then the last TRACEBACK_TAIL_BYTES of the traceback."""
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    summary = f"{name}: {error}" if str(error) else name
    frames = "".join(traceback.format_exception(kind, error, trace))
    return f"{summary}\n\n{cap_tail(frames, TRACEBACK_TAIL_BYTES)}"


def cap_head(text: str, limit: int) -> str:
    """The first `limit` bytes, with a marker when more were cut (a value reads from its start)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    head = data[:limit].decode("utf-8", errors="ignore")
    return f"{head}\n[... {len(data) - limit} bytes truncated ...]"


def cap_tail(text: str, limit: int) -> str:
    """The last `limit` bytes, after a marker when more were cut (a traceback ends at the fault)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    tail = data[-limit:].decode("utf-8", errors="ignore")
    return f"[... {len(data) - limit} bytes truncated ...]\n{tail}"
