"""Task processes never run as root unless configured to: resolving and switching the user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.executors import ExecutionRequest, PythonExecutor, ShellExecutor
from adapters.executors.task_user import (
    TaskUser,
    TaskUserError,
    can_access,
    lookup_user,
    resolve_task_user,
)
from entrypoints.settings import load_settings
from tests.unit.test_executors import live_members

ROOT = TaskUser("root", 0, 0, (0,), "/root")
NOBODY = TaskUser("nobody", 65534, 65534, (65534,), "/nonexistent")
DEV = TaskUser("dev", 1000, 1000, (1000, 27), "/home/dev")
USERS = {"root": ROOT, "0": ROOT, "nobody": NOBODY, "65534": NOBODY, "dev": DEV, "1000": DEV}

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching users needs a worker running as root (CI is root)"
)


def fake_lookup(name: str) -> TaskUser:
    try:
        return USERS[name]
    except KeyError:
        raise TaskUserError(f"no user {name!r}") from None


def test_an_unset_user_on_a_root_worker_runs_tasks_as_nobody() -> None:
    assert resolve_task_user(None, euid=0, lookup=fake_lookup) == NOBODY


def test_an_unset_user_on_an_unprivileged_worker_runs_tasks_as_the_worker() -> None:
    assert resolve_task_user(None, euid=1000, lookup=fake_lookup) == DEV


def test_a_root_worker_runs_tasks_as_root_only_when_told_so() -> None:
    assert resolve_task_user("root", euid=0, lookup=fake_lookup) == ROOT
    assert resolve_task_user("0", euid=0, lookup=fake_lookup) == ROOT


def test_worker_means_the_workers_own_user_root_included() -> None:
    assert resolve_task_user("$worker", euid=0, lookup=fake_lookup) == ROOT
    assert resolve_task_user("$worker", euid=1000, lookup=fake_lookup) == DEV


def test_the_development_config_runs_tasks_as_whoever_runs_make_up() -> None:
    settings = load_settings(Path("config/development.toml"), {})
    assert settings.worker.run_as_user == "$worker"
    production = load_settings(Path("config/production.toml"), {"POSTGRES_PASSWORD": "p"})
    assert production.worker.run_as_user is None


def test_a_root_worker_switches_to_the_configured_user() -> None:
    assert resolve_task_user("dev", euid=0, lookup=fake_lookup) == DEV
    assert resolve_task_user("65534", euid=0, lookup=fake_lookup) == NOBODY


def test_an_unprivileged_worker_cannot_run_tasks_as_another_user() -> None:
    with pytest.raises(TaskUserError, match=r"runs as uid 1000: only a worker started as root"):
        resolve_task_user("nobody", euid=1000, lookup=fake_lookup)
    assert resolve_task_user("dev", euid=1000, lookup=fake_lookup) == DEV  # itself: fine


def test_a_root_worker_without_nobody_refuses_to_start_and_says_what_to_set() -> None:
    def no_nobody(name: str) -> TaskUser:
        if name == "nobody":
            raise TaskUserError("no nobody")
        return fake_lookup(name)

    with pytest.raises(TaskUserError, match=r"set run_as_user to an unprivileged user"):
        resolve_task_user(None, euid=0, lookup=no_nobody)


def test_an_unknown_user_is_a_clear_error() -> None:
    with pytest.raises(TaskUserError, match=r"there is no user 'no-such-user-x1' on this host"):
        lookup_user("no-such-user-x1")
    with pytest.raises(TaskUserError, match=r"there is no uid '4000000001'"):
        lookup_user("4000000001")


def test_a_user_is_found_by_name_or_uid_with_its_groups_and_home() -> None:
    by_name, by_uid = lookup_user("root"), lookup_user("0")
    assert by_name == by_uid
    assert (by_name.uid, by_name.gid, by_name.home) == (0, 0, "/root")
    assert 0 in by_name.groups


@needs_root
def test_a_shell_task_run_as_nobody_prints_nobodys_uid_and_home() -> None:
    executor = ShellExecutor(user=lookup_user("nobody"))
    result = executor.execute(ExecutionRequest("r1", 1, "shell", 'id -u; id -g; echo "$HOME"'))
    uid, gid, home = result.output.split()
    assert (uid, home) == ("65534", "/nonexistent"), result.output
    assert uid != "0" and gid != "0"


@needs_root
def test_a_task_run_as_nobody_cannot_read_what_only_root_may() -> None:
    executor = ShellExecutor(user=lookup_user("nobody"))
    result = executor.execute(ExecutionRequest("r1", 1, "shell", "head -1 /etc/shadow"))
    assert not result.succeeded
    assert "Permission denied" in result.output


@needs_root
def test_a_python_task_run_as_nobody_has_nobodys_uid() -> None:
    python = "/usr/bin/python3"  # the test's own interpreter may sit under /root
    if not can_access(python, lookup_user("nobody")):
        pytest.skip(f"{python} is not there for nobody to run")
    folder = open_folder()
    (folder / "whoami.py").write_text("import os; print(os.getuid(), os.getgid(), os.getgroups())")
    (folder / "whoami.py").chmod(0o644)
    executor = PythonExecutor(python, user=lookup_user("nobody"))
    result = executor.execute(
        ExecutionRequest("r1", 1, "python", "whoami.py", working_dir=str(folder))
    )
    assert result.succeeded, result.output + str(result.error)
    uid, gid, groups = result.output.split(maxsplit=2)
    assert (uid, gid) == ("65534", "65534")
    assert "0" not in groups.strip("[]").replace(",", " ").split(), "no group of root is kept"


@needs_root
def test_an_interpreter_the_task_user_cannot_reach_is_a_clear_failure(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    python = closed / "python3"
    python.symlink_to(sys.executable)
    folder = open_folder()
    (folder / "job.py").write_text("print('ran')")
    (folder / "job.py").chmod(0o644)
    executor = PythonExecutor(str(python), user=lookup_user("nobody"))
    result = executor.execute(
        ExecutionRequest("r1", 1, "python", "job.py", working_dir=str(folder))
    )
    assert result.exit_code is None and result.pid is None
    assert result.error is not None
    assert "cannot be run by nobody (uid 65534)" in result.error
    assert "[worker] run_as_user" in result.error


@needs_root
def test_a_script_the_task_user_cannot_read_is_a_clear_failure() -> None:
    python = "/usr/bin/python3"
    if not can_access(python, lookup_user("nobody")):
        pytest.skip(f"{python} is not there for nobody to run")
    folder = open_folder()
    (folder / "secret.py").write_text("print('ran')")
    (folder / "secret.py").chmod(0o600)
    executor = PythonExecutor(python, user=lookup_user("nobody"))
    result = executor.execute(
        ExecutionRequest("r1", 1, "python", "secret.py", working_dir=str(folder))
    )
    assert result.error is not None and "cannot be read by nobody" in result.error


def test_access_is_judged_by_the_task_users_bits_on_every_folder() -> None:
    top = open_folder()
    folder = top / "a" / "b"
    folder.mkdir(parents=True, mode=0o755)
    (top / "a").chmod(0o755)
    target = folder / "f"
    target.write_text("x")
    target.chmod(0o644)
    stranger = TaskUser("stranger", 4_000_000_001, 4_000_000_001, (4_000_000_001,), "/")
    assert can_access(str(target), stranger, os.R_OK)
    assert not can_access(str(target), stranger, os.X_OK), "no x bit on the file"
    (top / "a").chmod(0o700)
    assert not can_access(str(target), stranger, os.R_OK), "a closed folder on the way"
    assert can_access(str(target), ROOT, os.R_OK)


def open_folder() -> Path:
    """A folder under /tmp that any user may enter (pytest's own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="task-user-", dir="/tmp"))
    folder.chmod(0o755)
    _cleanup.append(folder)
    return folder


_cleanup: list[Path] = []


@pytest.fixture(autouse=True)
def _remove_open_folders() -> Iterator[None]:
    yield
    while _cleanup:
        shutil.rmtree(_cleanup.pop(), ignore_errors=True)


# A stand-in worker that runs one shell command as another user, then waits to be killed.
SWITCHING_WORKER = textwrap.dedent(
    """
    import sys, threading
    from adapters.executors import ExecutionRequest, ShellExecutor
    from adapters.executors.task_user import lookup_user

    executor = ShellExecutor(user=lookup_user(sys.argv[1]))
    request = ExecutionRequest("run", 1, "shell", "exec sleep 60")
    announce = lambda pid: print("pid", pid, flush=True)
    threading.Thread(target=executor.execute, args=(request, announce)).start()
    threading.Event().wait()
    """
)


@needs_root
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_a_task_run_as_another_user_still_dies_with_its_sigkilled_worker() -> None:
    # A change of credentials clears the parent-death signal: it must be set after the switch.
    worker = subprocess.Popen(
        [sys.executable, "-c", SWITCHING_WORKER, "nobody"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.startswith("pid "), line
        pid = int(line.split()[1])
        assert Path(f"/proc/{pid}/status").read_text().count("65534") >= 2
        worker.kill()
        worker.wait()
        assert live_members(pid) == [], "the task outlived its worker"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
