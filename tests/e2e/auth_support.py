"""Processes with anonymous access off, and the credentials to call them: keys and JWTs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.e2e.conftest import ANONYMOUS_LOOPBACK, SCHEDULER, SchedulerProcess, base_env

JWT_SECRET = "test-secret-" + "x" * 40
AUDIENCE = "scheduler"


def secure_env(**extra: str) -> dict[str, str]:
    """The test environment with anonymous loopback access off, as in production."""
    return {**base_env(), ANONYMOUS_LOOPBACK: "false", **extra}


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a `scheduler` command."""
    return subprocess.run(
        [str(SCHEDULER), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def create_key(cwd: Path, env: dict[str, str], name: str, role: str, *more: str) -> str:
    """`scheduler keys create`; the key is the last line of its output."""
    done = cli("keys", "create", "--name", name, "--role", role, *more, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def bearer(credential: str) -> dict[str, str]:
    """The Authorization header of a key or a JWT."""
    return {"Authorization": f"Bearer {credential}"}


def token(role: Any, *, expires_in: float = 600, audience: str = AUDIENCE, **claims: Any) -> str:
    """An HS256 JWT for the test secret; `role` is the role claim (a role or a list)."""
    now = int(time.time())
    body = {"sub": f"{role}-user", "role": role, "aud": audience, "exp": now + expires_in}
    return jwt.encode({**body, **claims}, JWT_SECRET, algorithm="HS256")


@contextmanager
def secure_scheduler(
    workdir: Path, admin_name: str = "admin", **extra: str
) -> Iterator[tuple[SchedulerProcess, str]]:
    """`scheduler up` with anonymous access off, JWTs on, and an admin key made beforehand."""
    env = secure_env(
        SCHEDULER_WORKER__HEARTBEAT_INTERVAL_SECONDS="1",
        SCHEDULER_AUTH__JWT_SECRET=JWT_SECRET,
        SCHEDULER_AUTH__JWT_AUDIENCE=AUDIENCE,
        **extra,
    )
    admin = create_key(workdir, env, admin_name, "admin")
    proc = SchedulerProcess(workdir=workdir, env=env)
    proc.start()
    try:
        yield proc, admin
    finally:
        proc.stop()


def wait_for_status(
    client: httpx.Client, path: str, credential: str, wanted: int, timeout: float = 5.0
) -> float:
    """Poll until `path` answers `wanted` with the credential; the seconds it took."""
    started = time.monotonic()
    status = None
    while time.monotonic() - started < timeout:
        status = client.get(path, headers=bearer(credential)).status_code
        if status == wanted:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{path} still answered {status}, not {wanted}, after {timeout}s")
