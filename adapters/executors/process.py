"""Executors that run a task as a child process in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.executors.environment import child_environment
from adapters.executors.model import ExecutionRequest, ExecutionResult
from adapters.executors.output_tail import OutputPace, OutputTail, pump
from adapters.executors.parent_death import die_with_parent
from adapters.executors.process_group import live_group_members, signal_group
from adapters.executors.task_user import TaskUser, can_access

GROUP_POLL_SECONDS = 0.05  # how often a terminating group is checked during the grace
READER_JOIN_SECONDS = 2.0  # a process that escaped the group may hold the pipe open


@dataclass
class _Attempt:
    """One execution in progress, as seen by `cancel`."""

    wake: threading.Event = field(default_factory=threading.Event)  # exit or cancel
    exited: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    decided: bool = False  # the outcome is fixed: a later cancel is too late


class GroupLedger(Protocol):
    """Where live task process groups are recorded (adapters.executors.task_groups)."""

    def add(self, pgid: int) -> None: ...

    def discard(self, pgid: int) -> None: ...


class ProcessExecutor:
    """Spawns a command line; the whole group dies on timeout, cancel, the leader's exit or
    the worker's death (the child has the parent-death signal; the ledger's guard kills the
    rest of its group)."""

    name = "process"
    streams_output = True  # `on_output` hears the output so far while the process runs

    def __init__(
        self,
        output_tail_bytes: int = 65_536,
        kill_grace_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        ledger: GroupLedger | None = None,
        *,
        user: TaskUser | None = None,
    ) -> None:
        self._tail_bytes = output_tail_bytes
        self._grace = kill_grace_seconds
        self._monotonic = monotonic  # measures durations; waits use the real clock
        self._ledger = ledger
        self.user = user  # None: the worker's own user (tests; the worker always sets one)
        self._attempts: dict[tuple[str, int], _Attempt] = {}
        self._lock = threading.Lock()

    def argv(self, request: ExecutionRequest) -> list[str]:
        """The command line; subclasses decide."""
        raise NotImplementedError

    def preflight(self, request: ExecutionRequest) -> str | None:
        """Why the request cannot start, or None."""
        if request.working_dir and not os.path.isdir(request.working_dir):
            return f"working directory does not exist: {request.working_dir}"
        return None

    def execute(
        self,
        request: ExecutionRequest,
        on_started: Callable[[int], None] | None = None,
        on_output: Callable[[str], None] | None = None,
    ) -> ExecutionResult:
        """Run to exit, timeout or cancel; a command that fails comes back as a result.

        `on_output` hears the output so far while it runs, paced (output_tail.OutputPace).
        """
        started = self._monotonic()
        key = (request.run_id, request.attempt)
        attempt = _Attempt()
        with self._lock:  # registered before the spawn, so an early cancel is not lost
            self._attempts[key] = attempt
        try:
            return self._run(request, attempt, on_started, on_output, started)
        finally:
            with self._lock:
                if self._attempts.get(key) is attempt:
                    del self._attempts[key]

    def cancel(self, run_id: str, attempt: int) -> bool:
        """Ask a running attempt to stop; True means its result will say "cancelled".

        It does not block: the executing thread sends SIGTERM, waits the grace, then SIGKILL.
        """
        with self._lock:
            running = self._attempts.get((run_id, attempt))
            if running is None or running.decided:
                return False
            running.cancelled = True
        running.wake.set()
        return True

    def _run(
        self,
        request: ExecutionRequest,
        attempt: _Attempt,
        on_started: Callable[[int], None] | None,
        on_output: Callable[[str], None] | None,
        started: float,
    ) -> ExecutionResult:
        problem = self.preflight(request)
        if problem is not None:
            return self._not_started(problem, started)
        argv = self.argv(request)
        try:
            process = subprocess.Popen(
                argv,
                cwd=request.working_dir or None,
                env=child_environment(request, home=self.user.home if self.user else None),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kills reach grandchildren
                # Safe with threads here: it only calls prctl. This thread waits below until
                # the group has ended, so it outlives the child (the signal is per thread).
                preexec_fn=die_with_parent(),
                # The child switches before exec and before preexec_fn, so the parent-death
                # signal (cleared by a change of credentials) is set after the switch.
                **self._switch_user(),
            )
        except FileNotFoundError:
            return self._not_started(f"command not found: {argv[0]}", started)
        except (OSError, ValueError) as error:  # ValueError: NUL or "=" in env names/values
            reason = error.strerror if isinstance(error, OSError) else str(error)
            return self._not_started(f"cannot start {request.command!r}: {reason}", started)
        if self._ledger is not None:
            self._ledger.add(process.pid)
        tail = OutputTail(self._tail_bytes)
        assert process.stdout is not None
        reader = threading.Thread(target=pump, args=(process.stdout, tail), daemon=True)
        reader.start()
        threading.Thread(target=_wait_for_exit, args=(process, attempt), daemon=True).start()
        timeout = request.timeout_seconds if (request.timeout_seconds or 0) > 0 else None
        try:
            if on_started is not None:
                on_started(process.pid)
            pace = None if on_output is None else OutputPace(tail, on_output, time.monotonic())
            woke = _wait(attempt, timeout, pace)
            with self._lock:
                attempt.decided = True
                cancelled = attempt.cancelled
            timed_out = not cancelled and not woke and not attempt.exited.is_set()
        finally:
            # Whatever ended the wait (exit, timeout, cancel, or a raising on_started),
            # nothing of the group may outlive the attempt.
            self._end_group(process.pid, attempt)
            if self._ledger is not None and not live_group_members(process.pid):
                self._ledger.discard(process.pid)  # one stuck past SIGKILL stays listed
            reader.join(READER_JOIN_SECONDS)
        duration = self._monotonic() - started
        output = tail.text()
        if cancelled:
            return ExecutionResult(None, output, "cancelled", False, duration, process.pid)
        if timed_out:
            message = f"timed out after {float(timeout or 0)}s"
            return ExecutionResult(None, output, message, True, duration, process.pid)
        code = process.returncode
        error = None if code == 0 else describe_exit(code)
        return ExecutionResult(code, output, error, False, duration, process.pid)

    def _switch_user(self) -> dict[str, Any]:
        user = self.user
        if user is None or user.uid == os.geteuid():
            return {}
        return {"user": user.uid, "group": user.gid, "extra_groups": list(user.groups)}

    def _end_group(self, pgid: int, attempt: _Attempt) -> None:
        """SIGTERM the group, give it the grace to go, then SIGKILL what is left."""

        def running() -> bool:
            return not attempt.exited.is_set() or bool(live_group_members(pgid))

        if not running():
            return
        if signal_group(pgid, signal.SIGTERM):
            deadline = time.monotonic() + self._grace
            while running() and time.monotonic() < deadline:
                time.sleep(GROUP_POLL_SECONDS)
            signal_group(pgid, signal.SIGKILL)
        # Bounded: a process stuck in an uninterruptible kernel call outlives even SIGKILL.
        attempt.exited.wait(max(self._grace, 1.0))

    def _not_started(self, message: str, started: float) -> ExecutionResult:
        return ExecutionResult(None, "", message, False, self._monotonic() - started, None)


class ShellExecutor(ProcessExecutor):
    """`/bin/sh -c command` with the task's args as $1, $2…"""

    name = "shell"

    def argv(self, request: ExecutionRequest) -> list[str]:
        """sh -c with positional args ($0 is "sh")."""
        return ["/bin/sh", "-c", request.command, "sh", *request.args]


class PythonExecutor(ProcessExecutor):
    """`python script args`, the script relative to the working directory."""

    name = "python"

    def __init__(
        self,
        python_executable: str = sys.executable,
        output_tail_bytes: int = 65_536,
        kill_grace_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        ledger: GroupLedger | None = None,
        *,
        user: TaskUser | None = None,
    ) -> None:
        super().__init__(output_tail_bytes, kill_grace_seconds, monotonic, ledger, user=user)
        self._python = python_executable

    def preflight(self, request: ExecutionRequest) -> str | None:
        """Also check the script exists, which Python would report less clearly."""
        problem = super().preflight(request)
        if problem is None:
            script = os.path.join(request.working_dir or os.getcwd(), request.command)
            if not os.path.isfile(script):
                return f"command not found: {request.command}"
            return self._closed_to_user(script)
        return problem

    def _closed_to_user(self, script: str) -> str | None:
        """Why the task user cannot run the interpreter or read the script, if so."""
        user = self.user
        if user is None or user.uid == os.geteuid():
            return None
        if not can_access(self._python, user, os.X_OK):
            return (
                f"the python interpreter {self._python} cannot be run by {user.describe()}: "
                "a folder on its path is closed to that user; set [worker] run_as_user, or "
                "install the scheduler where that user can read it"
            )
        if not can_access(script, user, os.R_OK):
            return f"the script {script} cannot be read by {user.describe()}"
        return None

    def argv(self, request: ExecutionRequest) -> list[str]:
        """The interpreter, the script, its args."""
        return [self._python, request.command, *request.args]


def describe_exit(code: int | None) -> str:
    """A human message for a non-zero exit status."""
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == 127:
        return "exited with code 127 (command not found)"
    return f"exited with code {code}"


def _wait(attempt: _Attempt, timeout: float | None, pace: OutputPace | None) -> bool:
    """Wait for exit or cancel (True) or the timeout (False), showing the output meanwhile."""
    if pace is None:
        return attempt.wake.wait(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        now = time.monotonic()
        left = None if deadline is None else deadline - now
        if left is not None and left <= 0:
            return False
        step = pace.wait(now) if left is None else min(left, pace.wait(now))
        if attempt.wake.wait(step):
            return True
        pace.look(time.monotonic())


def _wait_for_exit(process: subprocess.Popen[bytes], attempt: _Attempt) -> None:
    process.wait()
    attempt.exited.set()
    attempt.wake.set()
