"""The executors a worker offers, by name."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import get_args

from adapters.executors.call_pool import CallPool
from adapters.executors.callable import CallableExecutor
from adapters.executors.callable_target import CallableTargets
from adapters.executors.http import HttpExecutor
from adapters.executors.model import Executor, ExecutorNotAllowedError, UnknownExecutorError
from adapters.executors.process import GroupLedger, PythonExecutor, ShellExecutor
from adapters.executors.task_user import TaskUser
from domain.task_spec import ExecutorName

# Every executor kind a task may name, built here or not.
EXECUTOR_KINDS = frozenset(get_args(ExecutorName))


class ExecutorRegistry:
    """Maps executor names to executors; `allowed` (default: all of them) may run."""

    def __init__(self, executors: Iterable[Executor], allowed: Iterable[str] | None = None) -> None:
        every = {executor.name: executor for executor in executors}
        self.allowed = frozenset(every if allowed is None else allowed)
        # An executor that is not allowed is not even built into the worker.
        self._executors = {name: e for name, e in every.items() if name in self.allowed}

    @property
    def names(self) -> list[str]:
        """Executor names, sorted."""
        return sorted(self._executors)

    def __contains__(self, name: object) -> bool:
        return name in self._executors

    def get(self, name: str) -> Executor:
        """The executor of that name.

        Raises:
            UnknownExecutorError: naming the executors this worker has.
        """
        try:
            return self._executors[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            if name in EXECUTOR_KINDS:
                raise ExecutorNotAllowedError(
                    f"executor {name!r} is not allowed on this worker "
                    f"([worker] allowed_executors: {known})"
                ) from None
            raise UnknownExecutorError(
                f"unknown executor {name!r}; this worker has: {known}"
            ) from None

    def find(self, name: str) -> Executor | None:
        """The executor of that name, or None when this worker lacks it."""
        return self._executors.get(name)

    @property
    def orphaned_threads(self) -> int:
        """Threads executors gave up on that still run (the callable executor's overruns)."""
        return sum(getattr(e, "orphaned_threads", 0) for e in self._executors.values())

    def cancel(self, run_id: str, attempt: int) -> bool:
        """Cancel an attempt on whichever executor runs it."""
        return any(e.cancel(run_id, attempt) for e in self._executors.values())


def default_executors(
    output_tail_bytes: int = 65_536,
    python_executable: str = sys.executable,
    kill_grace_seconds: float = 5.0,
    monotonic: Callable[[], float] = time.monotonic,
    ledger: GroupLedger | None = None,
    *,
    user: TaskUser | None = None,
    allowed: Iterable[str] | None = None,
    callable_modules: Iterable[str] = (),
    max_concurrent_tasks: int = 5,
) -> ExecutorRegistry:
    """The shell, python, http and callable executors that are `allowed` (default: all).

    `ledger` records their task process groups; `user` is who their processes run as.
    Callable functions come only from `callable_modules`, on `max_concurrent_tasks` threads.
    """
    return ExecutorRegistry(
        [
            ShellExecutor(output_tail_bytes, kill_grace_seconds, monotonic, ledger, user=user),
            PythonExecutor(
                python_executable,
                output_tail_bytes,
                kill_grace_seconds,
                monotonic,
                ledger,
                user=user,
            ),
            HttpExecutor(output_tail_bytes, monotonic=monotonic),
            CallableExecutor(
                CallableTargets(callable_modules),
                CallPool(max_concurrent_tasks),
                output_tail_bytes,
                monotonic=monotonic,
            ),
        ],
        allowed,
    )
