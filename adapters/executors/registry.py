"""The executors a worker offers, by name."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable

from adapters.executors.http import HttpExecutor
from adapters.executors.model import Executor, UnknownExecutorError
from adapters.executors.process import GroupLedger, PythonExecutor, ShellExecutor


class ExecutorRegistry:
    """Maps executor names to executors."""

    def __init__(self, executors: Iterable[Executor]) -> None:
        self._executors = {executor.name: executor for executor in executors}

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
            raise UnknownExecutorError(
                f"unknown executor {name!r}; this worker has: {known}"
            ) from None

    def cancel(self, run_id: str, attempt: int) -> bool:
        """Cancel an attempt on whichever executor runs it."""
        return any(e.cancel(run_id, attempt) for e in self._executors.values())


def default_executors(
    output_tail_bytes: int = 65_536,
    python_executable: str = sys.executable,
    kill_grace_seconds: float = 5.0,
    monotonic: Callable[[], float] = time.monotonic,
    ledger: GroupLedger | None = None,
) -> ExecutorRegistry:
    """The shell, python and http executors; `ledger` records their task process groups."""
    return ExecutorRegistry(
        [
            ShellExecutor(output_tail_bytes, kill_grace_seconds, monotonic, ledger),
            PythonExecutor(
                python_executable, output_tail_bytes, kill_grace_seconds, monotonic, ledger
            ),
            HttpExecutor(output_tail_bytes, monotonic=monotonic),
        ]
    )
