"""A PostgreSQL server of a test's own, so a test may stop and restart it safely."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.servers import server_missing


def _bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return candidates[-1].parent if candidates else None


@dataclass
class PrivatePostgres:
    """initdb'd into a temporary directory, run as the `postgres` user on its own port."""

    bin_dir: Path
    data_dir: Path
    port: int
    options: str = ""  # more server options, e.g. "-c ssl=on ..."

    @property
    def url(self) -> str:
        """URL of its `scheduler` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/scheduler"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin_dir / "pg_ctl"), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 {self.options}"
        self._pg_ctl(
            "-D", str(self.data_dir), "-o", options, "-l", str(self.data_dir / "log"), "-w", "start"
        )

    def stop(self) -> None:
        """Fast shutdown: connections are cut, as in a crash of the network or a restart."""
        self._pg_ctl("-D", str(self.data_dir), "-m", "fast", "-w", "stop")


@contextmanager
def private_postgres(port: int, options: str = "") -> Iterator[PrivatePostgres]:
    """A fresh server with a `scheduler` database; removed afterwards."""
    bin_dir = _bin_dir()
    if bin_dir is None or shutil.which("runuser") is None or os.geteuid() != 0:
        server_missing(
            "a private PostgreSQL (needs root, runuser and the server binaries)",
            RuntimeError("not available"),
        )
    assert bin_dir is not None
    root = Path(tempfile.mkdtemp(prefix="sched-pg-", dir="/tmp"))
    root.chmod(0o755)
    data_dir = root / "data"
    data_dir.mkdir()
    shutil.chown(data_dir, "postgres", "postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PrivatePostgres(bin_dir, data_dir, port, options)
    server.start()
    try:
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("CREATE DATABASE scheduler")
        yield server
    finally:
        with suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
