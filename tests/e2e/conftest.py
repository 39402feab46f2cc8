"""Starts the real `scheduler` process and drives it over HTTP, as a user would."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

SCHEDULER = Path(sys.executable).with_name("scheduler")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SchedulerProcess:
    """A running `scheduler up`, restartable on the same data."""

    workdir: Path  # its log, and its working directory unless `cwd` names another
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = (str(SCHEDULER), "up")
    cwd: Path | None = None

    @property
    def url(self) -> str:
        """Base URL of its API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start it and wait until /health answers."""
        with (self.workdir / "scheduler.log").open("ab") as log:
            self.process = subprocess.Popen(
                list(self.command),
                cwd=self.cwd or self.workdir,
                env={**self.env, "SCHEDULER_API__PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"scheduler exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"scheduler did not become healthy:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM, then wait; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        """The end of its combined output."""
        path = self.workdir / "scheduler.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


ANONYMOUS_LOOPBACK = "SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK"
# Seals secret values in every process a test starts (docs/security.md#secrets).
TEST_SECRET_KEY = "c2NoZWR1bGVyLWUyZS10ZXN0LWtleS0zMi1ieXRlcyE="


def base_env() -> dict[str, str]:
    """The parent environment without any SCHEDULER_* settings that could leak in.

    Test processes listen on 127.0.0.1 and let loopback callers in anonymously, as the
    development config does (the auth tests, test_auth*.py, turn that off and use keys),
    and seal secret values with the tests' SCHEDULER_SECRET_KEY. Tasks run as the test's
    own user, said explicitly: a root worker would otherwise run them as `nobody`
    (docs/security.md), which cannot write the tests' temporary folders. Every test client
    calls from 127.0.0.1, so the per-address limits are raised far above any test's load
    (the limiter still runs); tests/e2e/test_edge.py sets its own.

    Test processes cache their bytecode (__pycache__, ignored by git) even where the shell
    says PYTHONDONTWRITEBYTECODE: otherwise each of the suite's hundreds of processes
    compiles every module of the project again, about 0.3 s of CPU per start.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SCHEDULER_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {
        **env,
        ANONYMOUS_LOOPBACK: "true",
        "SCHEDULER_SECRET_KEY": TEST_SECRET_KEY,
        **TEST_EDGE_ENV,
    }


TEST_EDGE_ENV = {
    "SCHEDULER_WORKER__RUN_AS_USER": pwd.getpwuid(os.geteuid()).pw_name,
    "SCHEDULER_API__RATE_LIMIT_PER_SECOND": "100000",
    "SCHEDULER_API__RATE_LIMIT_BURST": "100000",
    "SCHEDULER_API__AUTH_FAILURE_LIMIT_PER_MINUTE": "1000000",
    "SCHEDULER_API__AUTH_FAILURE_BURST": "100000",
}


@contextmanager
def running_scheduler(
    workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[SchedulerProcess]:
    """`scheduler up` with its embedded defaults (SQLite under ./var, in-process bus)."""
    env = {**base_env(), "SCHEDULER_WORKER__HEARTBEAT_INTERVAL_SECONDS": "1", **(extra_env or {})}
    proc = SchedulerProcess(workdir=workdir, env=env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchedulerProcess]:
    """One `scheduler up` shared by a test module (tests use unique task names)."""
    with running_scheduler(tmp_path_factory.mktemp("scheduler")) as proc:
        yield proc


@pytest.fixture
def fresh_scheduler(tmp_path: Path) -> Iterator[SchedulerProcess]:
    """A `scheduler up` of this test's own, on empty storage."""
    with running_scheduler(tmp_path) as proc:
        yield proc


def unique(prefix: str) -> str:
    """A task name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(scheduler: SchedulerProcess) -> Iterator[httpx.Client]:
    """An HTTP client for the running scheduler."""
    with httpx.Client(base_url=scheduler.url, timeout=10) as http:
        yield http


FINISHED = {"succeeded", "failed", "timed_out", "cancelled", "skipped", "upstream_failed"}


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 20.0) -> dict:
    """Poll a run until it has finished; return it."""
    deadline = time.monotonic() + timeout
    run: dict = {}
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}").json()
        if run.get("status") in FINISHED:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}")
