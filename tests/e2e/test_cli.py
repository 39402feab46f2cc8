"""The `scheduler` command line: help, migrate, and clear failures for bad configuration."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.conftest import SCHEDULER, base_env


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCHEDULER), *args],
        cwd=cwd,
        env={**base_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    done = run("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("up", "api", "migrate"):
        assert command in done.stdout


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    first = run("migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "0001_read_tables" in first.stdout
    again = run("migrate", cwd=tmp_path)
    assert (again.returncode, again.stdout.strip()) == (0, "read tables are up to date")
    assert (tmp_path / "var" / "scheduler.db").exists()


def test_a_bad_config_file_names_the_key_and_exits_non_zero(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[api]\nport = "eighty"\n')
    done = run("up", "--config", str(config), cwd=tmp_path)
    assert done.returncode != 0
    assert "api.port" in done.stderr and "bad.toml" in done.stderr


def test_a_missing_config_file_is_reported(tmp_path: Path) -> None:
    done = run("migrate", "--config", "nope.toml", cwd=tmp_path)
    assert done.returncode != 0
    assert "config file not found: nope.toml" in done.stderr


def test_a_bad_database_url_is_reported(tmp_path: Path) -> None:
    done = run("migrate", cwd=tmp_path, env={"SCHEDULER_DATABASE__URL": "mysql://h/db"})
    assert done.returncode != 0
    assert "database.url" in done.stderr and "unsupported scheme" in done.stderr


def test_an_unreachable_database_is_reported_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://app:hunter2@127.0.0.1:1/db"
    env = {"SCHEDULER_DATABASE__URL": url, "SCHEDULER_DATABASE__CONNECTION_TIMEOUT_SECONDS": "1"}
    done = run("migrate", cwd=tmp_path, env=env)
    assert done.returncode != 0
    assert "cannot migrate" in done.stderr
    assert "hunter2" not in done.stderr
