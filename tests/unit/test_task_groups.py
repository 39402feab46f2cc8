"""No task process outlives its worker: parent-death signal, guard, and the sweep at start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.executors import orphan_guard
from adapters.executors.task_groups import TaskGroupLedger
from tests.unit.test_executors import live_members

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

# A stand-in worker: runs one shell command from a pool thread, as the worker agent does,
# prints the group id, and waits to be killed.
FAKE_WORKER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from adapters.executors import ExecutionRequest, ShellExecutor
    from adapters.executors.task_groups import TaskGroupLedger

    ledger = TaskGroupLedger(Path(sys.argv[1])) if sys.argv[1] != "-" else None
    if ledger is not None:
        ledger.open()
        print("guard", ledger.guard_pid, flush=True)
    executor = ShellExecutor(ledger=ledger)
    request = ExecutionRequest("run", 1, "shell", sys.argv[2])
    announce = lambda pid: print("pid", pid, flush=True)
    threading.Thread(target=executor.execute, args=(request, announce)).start()
    threading.Event().wait()
    """
)


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def fake_worker(
    spawned: list[subprocess.Popen[str]], ledger_dir: str, command: str
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_WORKER, ledger_dir, command],
        stdout=subprocess.PIPE,
        text=True,
    )
    spawned.append(process)
    assert process.stdout is not None
    said: dict[str, int] = {}
    while "pid" not in said:
        line = process.stdout.readline()
        assert line, "the fake worker exited early"
        key, value = line.split()
        said[key] = int(value)
    return process, said


def wait_listed(path: Path, pgid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        state = orphan_guard.read_state(path)
        if state and any(group == pgid for group, _ in state["groups"]):
            return
        time.sleep(0.01)
    raise AssertionError(f"group {pgid} never recorded in {path}")


def test_a_task_process_dies_with_its_sigkilled_worker_by_the_parent_death_signal(
    spawned: list[subprocess.Popen[str]],
) -> None:
    worker, said = fake_worker(spawned, "-", "exec sleep 60")  # no ledger, no guard
    assert live_members(said["pid"], settle_seconds=0) == [said["pid"]]
    worker.kill()
    worker.wait()
    assert live_members(said["pid"]) == [], "the child outlived its worker"


def test_the_guard_kills_the_whole_group_of_a_sigkilled_worker(
    spawned: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    # The shell forks its children: the parent-death signal reaches only the shell itself.
    worker, said = fake_worker(spawned, str(tmp_path), "sleep 60 & sleep 61; wait")
    pgid = said["pid"]
    wait_listed(tmp_path / f"{worker.pid}.json", pgid)
    deadline = time.monotonic() + 5
    while len(live_members(pgid, settle_seconds=0)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(live_members(pgid, settle_seconds=0)) == 3
    killed_at = time.monotonic()
    worker.kill()
    worker.wait()
    assert live_members(pgid) == [], "a task process outlived its worker"
    assert time.monotonic() - killed_at < 2
    assert not (tmp_path / f"{worker.pid}.json").exists(), "the guard removed the state file"
    assert live_members(said["guard"]) == [], "the guard exits once it has reaped"


def test_a_starting_worker_kills_the_groups_a_dead_worker_left_and_spares_the_living(
    tmp_path: Path, spawned: list[subprocess.Popen[str]]
) -> None:
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True, text=True)
    spared = subprocess.Popen(["sleep", "60"], start_new_session=True, text=True)
    spawned += [orphan, spared]
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    for owner, group in ((dead_owner.pid, orphan.pid), (os.getpid(), spared.pid)):
        state = {
            "owner": {"pid": owner, "start": None},
            "groups": [[group, orphan_guard.process_start(group)]],
        }
        (tmp_path / f"{owner}.json").write_text(json.dumps(state))
    (tmp_path / "9999999.json").write_text("not json")  # unreadable: dropped, not fatal
    ledger = TaskGroupLedger(tmp_path)
    try:
        reaped = ledger.open()
        assert reaped[dead_owner.pid] == [orphan.pid]
        assert orphan.wait(2) == -signal.SIGKILL
        assert spared.poll() is None, "the group of a live worker is left alone"
        assert (tmp_path / f"{os.getpid()}.json").exists()
        assert not (tmp_path / f"{dead_owner.pid}.json").exists()
        assert not (tmp_path / "9999999.json").exists()
    finally:
        ledger.close()


def test_a_recorded_group_whose_pid_now_belongs_to_another_process_is_spared(
    spawned: list[subprocess.Popen[str]],
) -> None:
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True, text=True)
    spawned.append(stranger)
    start = orphan_guard.process_start(stranger.pid)
    assert start is not None
    assert not orphan_guard.kill_group(stranger.pid, start - 1)
    assert stranger.poll() is None
    assert orphan_guard.kill_group(stranger.pid, start)
    assert stranger.wait(2) == -signal.SIGKILL


def test_a_ledger_closed_normally_leaves_no_file_and_no_guard(tmp_path: Path) -> None:
    ledger = TaskGroupLedger(tmp_path)
    ledger.open()
    guard = ledger.guard_pid
    assert guard is not None and (tmp_path / f"{os.getpid()}.json").exists()
    ledger.add(123456789)  # long gone: nothing to kill
    ledger.discard(123456789)
    ledger.close()
    assert list(tmp_path.glob("*.json")) == []
    assert live_members(guard) == []
