"""The worker's port to what runs attempts (adapters.delivery_executor provides it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from application.messages import Delivery


class RunExecutor(Protocol):
    """Runs one attempt (adapters.delivery_executor provides the real one)."""

    def execute(
        self,
        delivery: Delivery,
        on_started: Callable[[int], None],
        on_output: Callable[[str], None] | None = None,
    ) -> Any:
        """Run the attempt to its end; `on_output` hears its output so far, if it can tell."""
        ...

    def cancel(self, run_id: UUID, attempt: int) -> bool: ...

    def cancel_all(self) -> int: ...


@runtime_checkable
class InlineRunExecutor(RunExecutor, Protocol):
    """A run executor that can also start an attempt without a thread of the worker's own."""

    def begin(
        self,
        delivery: Delivery,
        on_started: Callable[[int], None],
        on_finished: Callable[[Any], None],
    ) -> bool:
        """Start the attempt and return at once (True), or decline it (False: `execute` it)."""
        ...
