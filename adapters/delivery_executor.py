"""Bridges a bus delivery to the executor that runs it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

from adapters.executors import (
    ExecutionRequest,
    ExecutionResult,
    ExecutorRegistry,
    UnknownExecutorError,
)
from adapters.executors.model import InlineExecutor, StreamingExecutor
from application.messages import Delivery

logger = logging.getLogger(__name__)


class DeliveryExecutor:
    """Runs a delivery's attempt with the executor it names."""

    def __init__(self, registry: ExecutorRegistry) -> None:
        self._registry = registry
        self._running: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def execute(
        self,
        delivery: Delivery,
        on_started: Callable[[int], None],
        on_output: Callable[[str], None] | None = None,
    ) -> ExecutionResult:
        """Execute one attempt; an executor this worker lacks or may not run fails it at once.

        `on_output` hears the output so far from executors that can tell (`streams_output`:
        shell and python); the others capture their output only when they end.
        """
        try:
            executor = self._registry.get(delivery.executor)
        except UnknownExecutorError as error:
            # Nothing started: the run records why, in its error, without a traceback.
            logger.warning(
                "refused run %s attempt %s: %s",
                delivery.run_id,
                delivery.attempt,
                error,
                extra={"action": "delivery_refused", "run_id": str(delivery.run_id)},
            )
            return ExecutionResult(None, "", str(error), False, 0.0, None)
        request = execution_request(delivery)
        key = (request.run_id, request.attempt)
        with self._lock:
            self._running.add(key)
        try:
            if on_output is not None and isinstance(executor, StreamingExecutor):
                return executor.execute(request, on_started, on_output)
            return executor.execute(request, on_started)
        finally:
            with self._lock:
                self._running.discard(key)

    def begin(
        self,
        delivery: Delivery,
        on_started: Callable[[int], None],
        on_finished: Callable[[ExecutionResult], None],
    ) -> bool:
        """Start an attempt on an executor that runs it without the caller's thread (callable);
        False when its executor needs a thread (or is missing: `execute` reports why)."""
        executor = self._registry.find(delivery.executor)
        if not isinstance(executor, InlineExecutor):
            return False
        request = execution_request(delivery)
        key = (request.run_id, request.attempt)
        with self._lock:
            self._running.add(key)

        def finished(result: ExecutionResult) -> None:
            with self._lock:
                self._running.discard(key)
            on_finished(result)

        executor.begin(request, on_started, finished)
        return True

    @property
    def orphaned_threads(self) -> int:
        """Threads still running calls that timed out or were cancelled."""
        return self._registry.orphaned_threads

    def cancel(self, run_id: UUID, attempt: int) -> bool:
        """Kill one running attempt; False when it is not running here."""
        return self._registry.cancel(str(run_id), attempt)

    def cancel_all(self) -> int:
        """Kill every attempt running now; returns how many were cancelled."""
        with self._lock:
            running = list(self._running)
        return sum(self._registry.cancel(run_id, attempt) for run_id, attempt in running)


def execution_request(delivery: Delivery) -> ExecutionRequest:
    """What the executor is asked to run for this delivery."""
    return ExecutionRequest(
        run_id=str(delivery.run_id),
        attempt=delivery.attempt,
        executor=delivery.executor,
        command=delivery.command,
        args=tuple(delivery.args),
        env=dict(delivery.env),
        working_dir=delivery.working_dir,
        timeout_seconds=float(delivery.timeout_seconds) or None,
        params=dict(delivery.params),
        http=delivery.http,
        shard=(
            (delivery.shard_index, delivery.shard_total)
            if delivery.shard_index is not None and delivery.shard_total is not None
            else None
        ),
    )
