"""SIGHUP re-reads the configuration: the log level changes, a bad file changes nothing."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.reload import ConfigReloader, changed_keys, reload_on_sighup
from entrypoints.settings import load_settings


@pytest.fixture(autouse=True)
def restore_levels() -> Iterator[None]:
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def config(path: Path, level: str, pool_size: int = 10) -> Path:
    path.write_text(
        f'[observability]\nlog_level = "{level}"\n[database]\npool_size = {pool_size}\n'
    )
    return path


def reloader_for(path: Path) -> ConfigReloader:
    reloader = ConfigReloader(load_settings(path, {}), path, {})
    logging.getLogger().setLevel(logging.INFO)
    return reloader


def test_a_changed_log_level_takes_effect_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    config(path, "debug")
    assert reloader.reload()
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("uvicorn.error").level == logging.DEBUG
    assert f"configuration reloaded from {path}: log_level info -> debug" in caplog.text


def test_a_quieter_level_is_announced_before_it_hides_the_announcement(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    config(path, "error")
    assert reloader.reload()
    assert "log_level info -> error" in caplog.text
    assert logging.getLogger().level == logging.ERROR


def test_a_bad_file_is_refused_with_its_reason_and_the_level_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    path.write_text('[observability]\nlog_level = "loud"\n')
    assert not reloader.reload()
    assert logging.getLogger().level == logging.INFO
    assert "configuration reload refused, the running configuration stays" in caplog.text
    assert "observability.log_level" in caplog.text and "loud" in caplog.text
    path.write_text("[observability\n")
    assert not reloader.reload()
    assert reloader.log_level == "info"


def test_settings_that_need_a_restart_are_named_not_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    config(path, "info", pool_size=3)
    assert reloader.reload()
    assert "log_level info; changed but applied only by a restart: database.pool_size" in (
        caplog.text
    )


def test_changed_keys_names_keys_only() -> None:
    old = load_settings(None, {})
    new = load_settings(None, {"SCHEDULER_DATABASE__URL": "postgresql://u:secret@h/db"})
    assert changed_keys(old, new) == ["database.url"]


def test_sighup_runs_the_reload_and_the_process_lives_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        reload_on_sighup(reloader)
        config(path, "warning")
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 5
        while reloader.log_level != "warning" and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert reloader.log_level == "warning"
    assert logging.getLogger().level == logging.WARNING
