"""What an executor is asked to run, what it reports back, and its port."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ExecutionRequest:
    """One attempt to run: what, where, with which environment and limits."""

    run_id: str
    attempt: int
    executor: str  # "shell" | "python" | "http" | "callable"
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    timeout_seconds: float | None = None  # None or <= 0: no timeout
    params: Mapping[str, str] = field(default_factory=dict)
    http: Mapping[str, Any] | None = None  # method, headers, body, expected_status
    shard: tuple[int, int] | None = None  # (index, total) on a shard of a broadcast run


@dataclass(frozen=True)
class ExecutionResult:
    """How the attempt ended, with the tail of its combined output.

    `exit_code` is None when the command could not start, timed out or was cancelled;
    it is negative (-signal) when something else killed the process.
    """

    exit_code: int | None
    output: str
    error: str | None
    timed_out: bool
    duration_seconds: float
    pid: int | None

    @property
    def succeeded(self) -> bool:
        """Exit code 0 and no timeout."""
        return self.exit_code == 0 and not self.timed_out


class Executor(Protocol):
    """Runs a request; a failing command is reported in the result, never raised."""

    name: str

    def execute(
        self, request: ExecutionRequest, on_started: Callable[[int], None] | None = None
    ) -> ExecutionResult: ...

    def cancel(self, run_id: str, attempt: int) -> bool: ...


@runtime_checkable
class InlineExecutor(Executor, Protocol):
    """An executor that starts a call and returns, reporting its result later (`callable`)."""

    def begin(
        self,
        request: ExecutionRequest,
        on_started: Callable[[int], None],
        on_finished: Callable[[ExecutionResult], None],
    ) -> None: ...


@runtime_checkable
class StreamingExecutor(Executor, Protocol):
    """An executor that tells the output so far while it runs (shell, python)."""

    streams_output: bool

    def execute(
        self,
        request: ExecutionRequest,
        on_started: Callable[[int], None] | None = None,
        on_output: Callable[[str], None] | None = None,
    ) -> ExecutionResult: ...


class UnknownExecutorError(Exception):
    """No executor of that name is available on this worker."""


class ExecutorNotAllowedError(UnknownExecutorError):
    """The executor exists, but `[worker] allowed_executors` does not let this worker run it."""
