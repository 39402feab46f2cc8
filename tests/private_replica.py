"""A streaming standby of a test's own PostgreSQL (tests/private_postgres.py), on another port."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg

from tests.private_postgres import PrivatePostgres
from tests.servers import server_missing


@contextmanager
def private_standby(primary: PrivatePostgres, port: int) -> Iterator[PrivatePostgres]:
    """`pg_basebackup -R -X stream` of `primary`, started as a hot standby; removed afterwards.

    initdb's pg_hba.conf lets 127.0.0.1 replicate with trust, and its defaults (wal_level
    replica, max_wal_senders 10) allow it: the primary needs no restart.
    """
    if not (primary.bin_dir / "pg_basebackup").exists():
        server_missing("pg_basebackup", FileNotFoundError(primary.bin_dir / "pg_basebackup"))
    root = Path(tempfile.mkdtemp(prefix="sched-standby-", dir="/tmp"))
    root.chmod(0o755)
    data_dir = root / "data"
    data_dir.mkdir(mode=0o700)
    shutil.chown(data_dir, "postgres", "postgres")
    standby = PrivatePostgres(primary.bin_dir, data_dir, port)
    try:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(primary.bin_dir / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(data_dir),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",  # the default spread checkpoint waits minutes
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        standby.start()
        yield standby
    finally:
        with suppress(subprocess.CalledProcessError):
            if (data_dir / "postmaster.pid").exists():
                standby.stop()
        shutil.rmtree(root, ignore_errors=True)


def replica_connection(standby: PrivatePostgres) -> psycopg.Connection:
    """An autocommit connection to the standby's `scheduler` database (as an operator)."""
    return psycopg.connect(standby.url, autocommit=True)
