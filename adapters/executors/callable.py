"""The `callable` executor: a trusted `module:function` called inside the worker process."""

from __future__ import annotations

import inspect
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from adapters.executors.call_outcome import raised, returned
from adapters.executors.call_pool import CallPool
from adapters.executors.callable_target import CallableTarget, CallableTargetError, CallableTargets
from adapters.executors.deadlines import Deadline, DeadlineTimer
from adapters.executors.event_loop import LoopThread
from adapters.executors.model import ExecutionRequest, ExecutionResult

Finished = Callable[[ExecutionResult], None]


@dataclass(eq=False)
class _Call:
    """One call in flight; whichever ends it first (return, deadline, cancel) reports it."""

    request: ExecutionRequest
    on_finished: Finished
    began: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    thread: int | None = None  # the pool thread running a sync function
    future: Future[None] | None = None  # the loop task running a coroutine function
    deadline: Deadline | None = None


class CallableExecutor:
    """Sync functions run on one shared CallPool, coroutine functions on one LoopThread.

    Nothing is created per call: the pool's threads, the loop's thread and the one timer
    thread for deadlines are shared. A call that outlives its timeout or is cancelled ends
    the attempt at once; a sync one keeps running in a written-off thread (`orphaned_threads`).
    """

    name = "callable"

    def __init__(
        self,
        targets: CallableTargets,
        pool: CallPool,
        output_limit: int = 65_536,
        *,
        loop: LoopThread | None = None,
        timer: DeadlineTimer | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets = targets
        self.pool = pool
        self._limit = output_limit
        self._loop = loop or LoopThread()
        self._timer = timer or DeadlineTimer(monotonic)
        self._monotonic = monotonic
        self._calls: dict[tuple[str, int], _Call] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def orphaned_threads(self) -> int:
        """Threads still running a sync call that timed out or was cancelled."""
        return self.pool.orphaned

    def begin(
        self, request: ExecutionRequest, on_started: Callable[[int], None], on_finished: Finished
    ) -> None:
        """Start the call and return; `on_finished` gets its result exactly once."""
        call = _Call(request, on_finished, self._monotonic())
        try:
            target = self.targets.resolve(request.command)
        except CallableTargetError as error:
            on_finished(ExecutionResult(None, "", str(error), False, 0.0, None))
            return
        with self._lock:
            self._calls[(request.run_id, request.attempt)] = call
        if request.timeout_seconds:
            call.deadline = self._timer.after(request.timeout_seconds, lambda: self._expire(call))
        if target.is_async:
            future = self._loop.submit(self._await(call, target, on_started))
            with call.lock:
                call.future = future
                late = call.done  # the deadline or a cancel came first
            if late:
                future.cancel()
        else:
            self.pool.submit(lambda: self._call(call, target, on_started))

    def execute(
        self, request: ExecutionRequest, on_started: Callable[[int], None] | None = None
    ) -> ExecutionResult:
        """Call and wait for the result (the blocking form of `begin`)."""
        ended = threading.Event()
        results: list[ExecutionResult] = []

        def finished(result: ExecutionResult) -> None:
            results.append(result)
            ended.set()

        self.begin(request, on_started or (lambda _pid: None), finished)
        ended.wait()
        return results[0]

    def cancel(self, run_id: str, attempt: int) -> bool:
        """End the attempt as cancelled now; False when it is not running here."""
        with self._lock:
            call = self._calls.get((run_id, attempt))
        if call is None:
            return False
        return self._abandon(call, "cancelled", timed_out=False)

    def close(self) -> None:
        """Stop the loop, the timer and the pool (orphaned threads are daemons)."""
        self._timer.close()
        self._loop.close()
        self.pool.shutdown()

    # Running

    def _call(self, call: _Call, target: CallableTarget, on_started: Callable[[int], None]) -> None:
        with call.lock:
            if call.done:  # cancelled or expired while it waited for a thread
                return
            call.thread = threading.get_ident()
        on_started(self._pid)
        args, kwargs = _arguments(call.request)
        try:
            value = target.function(*args, **kwargs)
            if inspect.isawaitable(value):
                _discard(value)
                raise TypeError("the function returned an awaitable: declare it `async def`")
        except BaseException as error:  # SystemExit too: it must not end the pool's thread
            self._finish(call, raised(error, self._elapsed(call), self._pid))
        else:
            self._finish(call, returned(value, self._elapsed(call), self._pid, self._limit))

    async def _await(
        self, call: _Call, target: CallableTarget, on_started: Callable[[int], None]
    ) -> None:
        on_started(self._pid)
        args, kwargs = _arguments(call.request)
        try:
            value = await target.function(*args, **kwargs)
        except BaseException as error:  # CancelledError too: reported by whoever cancelled
            self._finish(call, raised(error, self._elapsed(call), self._pid))
        else:
            self._finish(call, returned(value, self._elapsed(call), self._pid, self._limit))

    # Ending

    def _expire(self, call: _Call) -> None:
        timeout = float(call.request.timeout_seconds or 0)
        self._abandon(call, f"timed out after {timeout}s", timed_out=True)

    def _abandon(self, call: _Call, error: str, timed_out: bool) -> bool:
        with call.lock:
            if call.done:
                return False
            call.done = True
            # Under the call's lock: its thread cannot finish and take another job before
            # the pool knows it is written off.
            if call.thread is not None:
                self.pool.write_off(call.thread)
            if call.future is not None:
                call.future.cancel()
        self._settle(
            call, ExecutionResult(None, "", error, timed_out, self._elapsed(call), self._pid)
        )
        return True

    def _finish(self, call: _Call, result: ExecutionResult) -> None:
        with call.lock:
            if call.done:  # it ended already (deadline or cancel): this result is moot
                return
            call.done = True
        self._settle(call, result)

    def _settle(self, call: _Call, result: ExecutionResult) -> None:
        if call.deadline is not None:
            self._timer.cancel(call.deadline)
        with self._lock:
            self._calls.pop((call.request.run_id, call.request.attempt), None)
        call.on_finished(result)

    def _elapsed(self, call: _Call) -> float:
        return self._monotonic() - call.began


def _arguments(request: ExecutionRequest) -> tuple[tuple[str, ...], Mapping[str, Any]]:
    # The task's args are positional, the trigger's params are keyword arguments.
    return tuple(request.args), dict(request.params)


def _discard(value: Any) -> None:
    close = getattr(value, "close", None)
    if callable(close):
        close()  # a coroutine never awaited would warn at garbage collection
