"""The `http` executor: one request per attempt, with a circuit breaker per target host."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from adapters.executors.model import ExecutionRequest, ExecutionResult
from application.circuit_breaker import BreakerRegistry, CircuitOpenError

if TYPE_CHECKING:
    import httpx


class HttpExecutor:
    """Sends the task's request; success is an expected status (any 2xx by default)."""

    name = "http"

    def __init__(
        self,
        output_tail_bytes: int = 65_536,
        breakers: BreakerRegistry | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._tail = output_tail_bytes
        self.breakers = breakers or BreakerRegistry()
        self._monotonic = monotonic
        self._transport = transport
        self._cancelled: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def execute(
        self, request: ExecutionRequest, on_started: Callable[[int], None] | None = None
    ) -> ExecutionResult:
        """Send the request; errors come back as a failed result."""
        started = self._monotonic()
        spec = dict(request.http or {})
        host = urlsplit(request.command).hostname or "unknown"
        breaker = self.breakers.get(f"http:{host}")
        try:
            breaker.allow()
        except CircuitOpenError as error:
            return self._result(None, "", str(error), started)
        if on_started is not None:
            on_started(0)  # no process: the attempt starts when the request does
        timeout = request.timeout_seconds if request.timeout_seconds else None
        # Imported on a worker's first request: httpx is most of a worker's start-up otherwise.
        import httpx

        try:
            with httpx.Client(timeout=timeout, transport=self._transport) as client:
                response = client.request(
                    spec.get("method", "GET"),
                    request.command,
                    headers={**spec.get("headers", {}), "X-Scheduler-Run-Id": request.run_id},
                    content=spec.get("body"),
                    params=dict(request.params) or None,
                )
        except httpx.TimeoutException:
            breaker.record_failure("timeout")
            return self._result(None, "", f"timed out after {timeout}s", started, timed_out=True)
        except httpx.HTTPError as error:
            breaker.record_failure(error)
            return self._result(None, "", f"request failed: {error}", started)
        except (httpx.InvalidURL, ValueError) as error:  # the task's fault, not the host's
            return self._result(None, "", f"invalid request: {error}", started)
        # A 5xx means the host is struggling; anything else means it answered.
        if response.status_code >= 500:
            breaker.record_failure(f"HTTP {response.status_code}")
        else:
            breaker.record_success()
        output = f"HTTP {response.status_code}\n{response.text}"
        expected = spec.get("expected_status") or []
        ok = response.status_code in expected if expected else response.is_success
        if self._was_cancelled(request):
            return self._result(None, output, "cancelled", started)
        error = None if ok else f"unexpected HTTP status {response.status_code}"
        return self._result(0 if ok else response.status_code, output, error, started)

    def cancel(self, run_id: str, attempt: int) -> bool:
        """Mark an attempt cancelled; its result is reported as such when the request ends."""
        with self._lock:
            self._cancelled.add((run_id, attempt))
        return False  # nothing to kill: the request is bounded by its timeout

    def _was_cancelled(self, request: ExecutionRequest) -> bool:
        with self._lock:
            key = (request.run_id, request.attempt)
            if key in self._cancelled:
                self._cancelled.discard(key)
                return True
            return False

    def _result(
        self,
        exit_code: int | None,
        output: str,
        error: str | None,
        started: float,
        timed_out: bool = False,
    ) -> ExecutionResult:
        tail = output.encode()[-self._tail :].decode("utf-8", errors="replace")
        return ExecutionResult(exit_code, tail, error, timed_out, self._monotonic() - started, None)
