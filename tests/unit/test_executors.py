"""Executors run real processes: output tail, clean environment, timeouts, cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from adapters.executors import (
    ExecutionRequest,
    OutputTail,
    PythonExecutor,
    ShellExecutor,
    UnknownExecutorError,
    default_executors,
)
from adapters.executors.output_tail import PROGRESS_BYTES, OutputPace


def shell(command: str, **fields: object) -> ExecutionRequest:
    """A shell request of run r1, attempt 1."""
    return ExecutionRequest(run_id="r1", attempt=1, executor="shell", command=command, **fields)


def live_members(pgid: int, settle_seconds: float = 2.0) -> list[int]:
    """Processes of a group still alive after a short settle (a SIGKILLed process needs a
    moment to exit; zombies awaiting their reaper do not count)."""
    deadline = time.monotonic() + settle_seconds
    while (alive := _alive_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive


def _alive_in_group(pgid: int) -> list[int]:
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_a_successful_command_returns_its_combined_output() -> None:
    pids: list[int] = []
    result = ShellExecutor().execute(shell("echo out; echo err >&2"), on_started=pids.append)
    assert result.succeeded and (result.exit_code, result.error) == (0, None)
    assert "out" in result.output and "err" in result.output
    assert pids == [result.pid]


def test_a_non_zero_exit_is_a_failure_with_its_code() -> None:
    result = ShellExecutor().execute(shell("exit 3"))
    assert (result.succeeded, result.exit_code, result.error) == (False, 3, "exited with code 3")


def test_a_process_killed_by_a_signal_says_which() -> None:
    result = ShellExecutor().execute(shell("kill -9 $$"))
    assert (result.exit_code, result.error) == (-9, "killed by signal SIGKILL")


def test_the_output_keeps_only_the_last_bytes() -> None:
    script = "python3 -c \"print('a' * 200_000); print('THE END')\""
    result = ShellExecutor(output_tail_bytes=1024).execute(shell(script))
    assert result.output.endswith("a\nTHE END\n")  # 200_001 + 8 bytes, 1024 kept
    assert result.output.startswith("[... 198985 bytes truncated ...]\n")
    assert len(result.output) < 1100


def test_a_tail_cut_inside_a_character_does_not_show_a_replacement_mark() -> None:
    tail = OutputTail(limit=5)
    tail.feed("ééé".encode())  # six bytes: the cut falls inside the first "é"
    assert tail.text() == "[... 2 bytes truncated ...]\néé"


def test_the_child_sees_only_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_DATABASE__URL", "postgresql://secret")
    request = shell("env", env={"TASK_VAR": "1"}, params={"day": "mon", "run-date": "x"})
    output = ShellExecutor().execute(request).output
    assert "secret" not in output and "SCHEDULER_DATABASE__URL" not in output
    assert "TASK_VAR=1" in output
    assert "SCHEDULER_PARAM_DAY=mon" in output and "day=mon" in output
    assert "SCHEDULER_PARAM_RUN_DATE=x" in output and "run-date=" not in output
    assert "SCHEDULER_RUN_ID=r1" in output and "SCHEDULER_ATTEMPT=1" in output
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in output and "LANG=C.UTF-8" in output


def test_a_param_cannot_replace_the_loader_or_interpreter_variables() -> None:
    params = {"LD_PRELOAD": "/tmp/evil.so", "PATH": "/tmp", "SCHEDULER_RUN_ID": "forged"}
    output = ShellExecutor().execute(shell("env", params=params)).output
    assert "\nLD_PRELOAD=" not in f"\n{output}"
    assert "SCHEDULER_PARAM_LD_PRELOAD=/tmp/evil.so" in output
    assert "SCHEDULER_RUN_ID=r1" in output and "\nPATH=/usr/local/bin" in f"\n{output}"


def test_a_shard_knows_its_index_and_total_and_a_param_cannot_forge_them() -> None:
    params = {"SCHEDULER_SHARD_INDEX": "9"}
    env = {"SCHEDULER_SHARD_TOTAL": "7", "SCHEDULER_RUN_ID": "forged"}
    output = ShellExecutor().execute(shell("env", env=env, params=params, shard=(1, 3))).output
    assert "SCHEDULER_SHARD_INDEX=1" in output and "SCHEDULER_SHARD_TOTAL=3" in output
    assert "SCHEDULER_RUN_ID=r1" in output and "forged" not in output
    assert "\nSCHEDULER_SHARD_INDEX=9" not in f"\n{output}"


def test_an_invalid_environment_is_a_clear_failure_not_an_exception() -> None:
    result = ShellExecutor().execute(shell("true", env={"A=B": "1"}))
    assert (result.exit_code, result.pid) == (None, None)
    assert (result.error or "").startswith("cannot start 'true': ")


def test_the_working_directory_is_honoured(tmp_path: Path) -> None:
    result = ShellExecutor().execute(shell("pwd", working_dir=str(tmp_path)))
    assert result.output.strip() == str(tmp_path)


def test_a_missing_working_directory_is_a_clear_failure() -> None:
    result = ShellExecutor().execute(shell("true", working_dir="/no/such/dir"))
    assert (result.succeeded, result.exit_code, result.pid) == (False, None, None)
    assert result.error == "working directory does not exist: /no/such/dir"


def test_the_python_executor_runs_a_script_in_the_working_directory(tmp_path: Path) -> None:
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


def test_a_missing_python_script_is_a_clear_failure(tmp_path: Path) -> None:
    request = ExecutionRequest("r", 1, "python", "missing.py", working_dir=str(tmp_path))
    result = PythonExecutor().execute(request)
    assert (result.exit_code, result.error) == (None, "command not found: missing.py")


def test_a_missing_interpreter_is_a_clear_failure(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("print('hi')\n")
    request = ExecutionRequest("r", 1, "python", "job.py", working_dir=str(tmp_path))
    result = PythonExecutor(python_executable="/no/such/python").execute(request)
    assert (result.exit_code, result.error) == (None, "command not found: /no/such/python")


def test_a_timeout_kills_the_whole_process_group() -> None:
    pids: list[int] = []
    request = shell("sleep 30 & sleep 30", timeout_seconds=0.5)
    result = ShellExecutor(kill_grace_seconds=2).execute(request, on_started=pids.append)
    assert result.timed_out and not result.succeeded
    assert (result.exit_code, result.error) == (None, "timed out after 0.5s")
    assert result.duration_seconds < 2  # the group obeyed SIGTERM: no need to wait the grace
    assert live_members(pids[0]) == []


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    pids: list[int] = []
    request = shell("trap '' TERM; sleep 30 & sleep 30", timeout_seconds=0.3)
    result = ShellExecutor(kill_grace_seconds=0.5).execute(request, on_started=pids.append)
    assert result.timed_out
    assert 0.8 <= result.duration_seconds < 3
    assert live_members(pids[0]) == []


def test_background_processes_do_not_outlive_a_finished_command() -> None:
    pids: list[int] = []
    result = ShellExecutor().execute(shell("sleep 30 & echo done"), on_started=pids.append)
    assert result.succeeded and result.output == "done\n"
    assert result.duration_seconds < 2
    assert live_members(pids[0]) == []


def test_the_duration_is_measured_on_the_given_clock() -> None:
    ticks = iter([100.0, 102.5])
    result = ShellExecutor(monotonic=lambda: next(ticks)).execute(shell("true"))
    assert result.duration_seconds == 2.5


def test_cancel_from_another_thread_ends_the_attempt() -> None:
    executor = ShellExecutor(kill_grace_seconds=2)
    answers: list[bool] = []
    cancellers: list[threading.Thread] = []

    def cancel_soon(_pid: int) -> None:
        canceller = threading.Thread(target=lambda: answers.append(executor.cancel("r1", 1)))
        cancellers.append(canceller)
        canceller.start()

    started = time.monotonic()
    result = executor.execute(shell("sleep 30"), on_started=cancel_soon)
    cancellers[0].join()
    assert time.monotonic() - started < 2
    assert (result.exit_code, result.error, result.timed_out) == (None, "cancelled", False)
    assert answers == [True]
    assert executor.cancel("r1", 1) is False  # no longer running


def test_cancelling_an_attempt_that_is_not_running_is_refused() -> None:
    assert default_executors().cancel("nobody", 1) is False


def test_an_unknown_executor_names_the_available_ones() -> None:
    with pytest.raises(UnknownExecutorError, match="python, shell"):
        default_executors().get("docker")


def test_a_running_command_tells_its_output_so_far_once_per_change() -> None:
    heard: list[str] = []
    result = ShellExecutor().execute(shell("echo one; sleep 2.3; echo two"), on_output=heard.append)
    # Heard at about 1 s, while it slept; at about 2 s nothing new had come, so nothing.
    assert heard == ["one\n"]
    assert result.output == "one\ntwo\n"


def test_a_command_telling_its_output_still_times_out() -> None:
    heard: list[str] = []
    result = ShellExecutor().execute(
        shell("echo start; sleep 10", timeout_seconds=1.5), on_output=heard.append
    )
    assert result.timed_out and heard == ["start\n"]


def test_the_output_so_far_is_its_last_bytes_and_slows_down_as_the_attempt_ages() -> None:
    tail = OutputTail(100)
    shown: list[str] = []
    pace = OutputPace(tail, shown.append, started=0.0)
    tail.feed(b"a" * 30)
    pace.look(0.5)  # too soon
    assert shown == [] and pace.wait(0.5) == 0.5
    pace.look(1.0)
    assert shown == ["a" * 30]
    tail.feed(b"b" * 5000)
    pace.look(60.0)  # then not before 60 + 6 (a tenth of its age)
    assert shown[-1] == f"[... {30 + 5000 - 100} bytes truncated ...]\n" + "b" * 100
    assert tail.text(PROGRESS_BYTES) == tail.text()  # within the limit: the same text
    tail.feed(b"c")
    pace.look(65.0)
    assert len(shown) == 2 and pace.wait(65.0) == 1.0
    pace.look(66.0)
    assert shown[-1].endswith("c")


def test_a_tail_read_shorter_keeps_its_last_bytes_and_says_how_many_went() -> None:
    tail = OutputTail(100)
    tail.feed(b"0123456789")
    assert tail.text(4) == "[... 6 bytes truncated ...]\n6789"
