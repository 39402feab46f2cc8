"""Executors run one attempt of a task as a child process with a clean environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
READ_CHUNK = 65_536


@dataclass(frozen=True)
class ExecutionRequest:
    """One attempt to run: what, where, with which environment and limits."""

    run_id: str
    attempt: int
    executor: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    timeout_seconds: float | None = None
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionResult:
    """How the attempt ended, with the tail of its combined output."""

    exit_code: int | None
    output: str
    error: str | None
    timed_out: bool
    duration_seconds: float
    pid: int | None

    @property
    def succeeded(self) -> bool:
        """Exit code 0 and no timeout."""
        return self.exit_code == 0 and not self.timed_out and self.error is None


class Executor(Protocol):
    """Runs a request; never raises for a failing command, it reports it."""

    name: str

    def execute(
        self, request: ExecutionRequest, on_started: Callable[[int], None] | None = None
    ) -> ExecutionResult: ...

    def cancel(self, run_id: str, attempt: int) -> bool: ...


class UnknownExecutorError(Exception):
    """No executor of that name is available on this worker."""


class OutputTail:
    """Keeps only the last `limit` bytes of a stream, counting what it dropped."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        """Append a chunk, forgetting the oldest bytes beyond the limit."""
        self._buffer += chunk
        excess = len(self._buffer) - self._limit
        if excess > 0:
            del self._buffer[:excess]
            self.dropped += excess

    def text(self) -> str:
        """The tail as text, marked when bytes were dropped."""
        body = bytes(self._buffer).decode("utf-8", errors="replace")
        return f"[... {self.dropped} bytes truncated ...]\n{body}" if self.dropped else body


def child_environment(request: ExecutionRequest) -> dict[str, str]:
    """The task's own environment: nothing of the worker's (no database URLs or keys)."""
    env = {
        "PATH": SAFE_PATH,
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "SCHEDULER_RUN_ID": request.run_id,
        "SCHEDULER_ATTEMPT": str(request.attempt),
    }
    env.update(request.env)
    for name, value in request.params.items():
        env[f"SCHEDULER_PARAM_{name.upper()}"] = value
        if name.isidentifier():
            env[name] = value
    return env


class ProcessExecutor:
    """Spawns the command in its own process group; kills the whole group on timeout/cancel."""

    name = "process"

    def __init__(
        self,
        output_tail_bytes: int = 65_536,
        kill_grace_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tail_bytes = output_tail_bytes
        self._grace = kill_grace_seconds
        self._monotonic = monotonic
        self._running: dict[tuple[str, int], subprocess.Popen[bytes]] = {}
        self._cancelled: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def argv(self, request: ExecutionRequest) -> list[str]:
        """The command line; subclasses decide."""
        raise NotImplementedError

    def execute(
        self, request: ExecutionRequest, on_started: Callable[[int], None] | None = None
    ) -> ExecutionResult:
        """Run to completion, timeout or cancel; failures come back as results."""
        started = self._monotonic()
        if request.working_dir and not os.path.isdir(request.working_dir):
            return self._failed(f"working directory does not exist: {request.working_dir}", started)
        try:
            process = subprocess.Popen(
                self.argv(request),
                cwd=request.working_dir or None,
                env=child_environment(request),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kills reach grandchildren
            )
        except OSError as error:
            return self._failed(f"cannot start {request.command!r}: {error.strerror}", started)
        key = (request.run_id, request.attempt)
        with self._lock:
            self._running[key] = process
        if on_started is not None:
            on_started(process.pid)
        tail = OutputTail(self._tail_bytes)
        reader = threading.Thread(target=_pump, args=(process, tail), daemon=True)
        reader.start()
        timed_out = False
        try:
            process.wait(timeout=request.timeout_seconds or None)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill_group(process)
        finally:
            with self._lock:
                self._running.pop(key, None)
                cancelled = key in self._cancelled
                self._cancelled.discard(key)
        self._kill_group(process, grace=0)  # leftovers in the group die with the attempt
        reader.join(timeout=5)
        duration = self._monotonic() - started
        code = process.returncode
        if cancelled:
            return ExecutionResult(None, tail.text(), "cancelled", False, duration, process.pid)
        if timed_out:
            message = f"timed out after {request.timeout_seconds}s"
            return ExecutionResult(None, tail.text(), message, True, duration, process.pid)
        error = None if code == 0 else _describe_exit(code)
        return ExecutionResult(code, tail.text(), error, False, duration, process.pid)

    def cancel(self, run_id: str, attempt: int) -> bool:
        """Kill a running attempt's process group; False if it is not running here."""
        with self._lock:
            process = self._running.get((run_id, attempt))
            if process is None:
                return False
            self._cancelled.add((run_id, attempt))
        self._kill_group(process)
        return True

    def _kill_group(self, process: subprocess.Popen[bytes], grace: float | None = None) -> None:
        grace = self._grace if grace is None else grace
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            if sig == signal.SIGTERM:
                if grace <= 0:
                    continue
                try:
                    process.wait(timeout=grace)
                    if not _group_alive(process.pid):
                        return
                except subprocess.TimeoutExpired:
                    pass

    def _failed(self, message: str, started: float) -> ExecutionResult:
        return ExecutionResult(None, "", message, False, self._monotonic() - started, None)


class ShellExecutor(ProcessExecutor):
    """`/bin/sh -c command` with the task's args as $1, $2…"""

    name = "shell"

    def argv(self, request: ExecutionRequest) -> list[str]:
        """sh -c with positional args."""
        return ["/bin/sh", "-c", request.command, "sh", *request.args]


class PythonExecutor(ProcessExecutor):
    """`python script args` (the seed's `"executor": "python", "command": "process_data.py"`)."""

    name = "python"

    def __init__(self, python_executable: str = sys.executable, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._python = python_executable

    def argv(self, request: ExecutionRequest) -> list[str]:
        """The interpreter, the script, its args."""
        return [self._python, request.command, *request.args]


class ExecutorRegistry:
    """The executors a worker offers, by name."""

    def __init__(self, executors: list[Executor]) -> None:
        self._executors = {e.name: e for e in executors}

    @property
    def names(self) -> list[str]:
        """Executor names, sorted."""
        return sorted(self._executors)

    def get(self, name: str) -> Executor:
        """The executor of that name.

        Raises:
            UnknownExecutorError: listing the ones this worker has.
        """
        try:
            return self._executors[name]
        except KeyError:
            raise UnknownExecutorError(
                f"executor {name!r} is not available on this worker (it has {self.names})"
            ) from None

    def cancel(self, run_id: str, attempt: int) -> bool:
        """Cancel an attempt on whichever executor runs it."""
        return any(e.cancel(run_id, attempt) for e in self._executors.values())


def default_executors(
    output_tail_bytes: int = 65_536, python_executable: str = sys.executable
) -> ExecutorRegistry:
    """The shell and python executors."""
    return ExecutorRegistry(
        [
            ShellExecutor(output_tail_bytes=output_tail_bytes),
            PythonExecutor(python_executable, output_tail_bytes=output_tail_bytes),
        ]
    )


def _pump(process: subprocess.Popen[bytes], tail: OutputTail) -> None:
    assert process.stdout is not None
    while chunk := process.stdout.read1(READ_CHUNK):
        tail.feed(chunk)
    process.stdout.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    if code == 127:
        return "exited with code 127 (command not found)"
    return f"exited with code {code}"
