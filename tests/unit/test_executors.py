"""Executors run real processes: output tail, clean environment, timeouts, cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from adapters.executors import (
    ExecutionRequest,
    ShellExecutor,
    UnknownExecutorError,
    default_executors,
)


def shell(command: str, **fields: object) -> ExecutionRequest:
    return ExecutionRequest(run_id="r1", attempt=1, executor="shell", command=command, **fields)


def test_a_successful_command_returns_its_output() -> None:
    result = ShellExecutor().execute(shell("echo out; echo err >&2"))
    assert result.succeeded and result.exit_code == 0
    assert "out" in result.output and "err" in result.output


def test_a_non_zero_exit_is_a_failure_with_its_code() -> None:
    result = ShellExecutor().execute(shell("exit 3"))
    assert (result.succeeded, result.exit_code, result.error) == (False, 3, "exited with code 3")


def test_the_output_keeps_only_the_last_bytes() -> None:
    script = "python3 -c \"print('a' * 200_000); print('THE END')\""
    result = ShellExecutor(output_tail_bytes=1024).execute(shell(script))
    assert result.output.endswith("THE END\n")
    assert "truncated" in result.output
    assert len(result.output) < 1100


def test_the_child_sees_only_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_DATABASE__URL", "postgresql://secret")
    request = shell("env", env={"TASK_VAR": "1"}, params={"day": "mon"})
    output = ShellExecutor().execute(request).output
    assert "secret" not in output
    assert "TASK_VAR=1" in output
    assert "SCHEDULER_PARAM_DAY=mon" in output and "day=mon" in output
    assert "SCHEDULER_RUN_ID=r1" in output


def test_the_working_directory_is_honoured(tmp_path: Path) -> None:
    result = ShellExecutor().execute(shell("pwd", working_dir=str(tmp_path)))
    assert result.output.strip() == str(tmp_path)


def test_a_missing_working_directory_is_a_clear_failure() -> None:
    result = ShellExecutor().execute(shell("true", working_dir="/no/such/dir"))
    assert not result.succeeded
    assert result.error == "working directory does not exist: /no/such/dir"


def test_the_python_executor_runs_a_script_with_args(tmp_path: Path) -> None:
    (tmp_path / "process_data.py").write_text("import sys; print('args', sys.argv[1:])\n")
    request = ExecutionRequest(
        run_id="r",
        attempt=1,
        executor="python",
        command="process_data.py",
        args=("a", "b"),
        working_dir=str(tmp_path),
    )
    result = default_executors().get("python").execute(request)
    assert result.succeeded, result
    assert "args ['a', 'b']" in result.output


def test_a_timeout_kills_the_whole_process_group() -> None:
    pids: list[int] = []
    executor = ShellExecutor(kill_grace_seconds=0.5)
    request = shell("sleep 30 & sleep 30", timeout_seconds=0.5)
    started = time.monotonic()
    result = executor.execute(request, on_started=pids.append)
    assert result.timed_out and not result.succeeded
    assert "timed out" in (result.error or "")
    assert time.monotonic() - started < 5
    assert live_members(pids[0]) == []


def live_members(pgid: int) -> list[int]:
    """Processes of a group still alive (zombies awaiting their reaper do not count)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_cancel_from_another_thread_ends_the_attempt() -> None:
    executor = ShellExecutor(kill_grace_seconds=0.5)
    started = threading.Event()
    threading.Timer(0.2, lambda: started.wait(5) and executor.cancel("r1", 1)).start()
    result = executor.execute(shell("sleep 30"), on_started=lambda _pid: started.set())
    assert result.error == "cancelled"
    assert executor.cancel("r1", 1) is False


def test_an_unknown_executor_names_the_available_ones() -> None:
    with pytest.raises(UnknownExecutorError, match="python"):
        default_executors().get("docker")
