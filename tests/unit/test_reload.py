"""A reload applies the keys that may change, refuses anything else, and keeps what runs."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from entrypoints.config_watch import watch_config_files, watching_wanted
from entrypoints.live_config import RELOADABLE, LiveConfig
from entrypoints.reload import ConfigReloader, changed_keys, reload_on_sighup
from entrypoints.settings import ConfigError, Settings, load_settings, load_sourced_settings

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def restore_levels() -> Iterator[None]:
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def write(path: Path, level: str = "info", rate: int = 100, pool_size: int = 10) -> Path:
    path.write_text(
        f'[observability]\nlog_level = "{level}"\n'
        f"[api]\nrate_limit_per_second = {rate}\n"
        f"[database]\npool_size = {pool_size}\n"
    )
    return path


def reloader_for(*paths: Path) -> ConfigReloader:
    live = LiveConfig.loaded(load_sourced_settings(paths, {}), now=AT)
    reloader = ConfigReloader(live, paths, {}, now=lambda: AT)
    logging.getLogger().setLevel(logging.INFO)
    return reloader


def count(reloader: ConfigReloader, result: str) -> float:
    registry = CollectorRegistry()
    reloader.register_metrics(registry)
    value = registry.get_sample_value("scheduler_config_reloads_total", {"result": result})
    return value or 0.0


def test_a_changed_log_level_takes_effect_is_logged_and_bumps_the_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    write(path, "debug")
    assert reloader.reload() == "applied"
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("uvicorn.error").level == logging.DEBUG
    assert f"configuration reloaded from {path}: log_level info -> debug" in caplog.text
    assert "version 2, changed: observability.log_level" in caplog.text
    assert reloader.live.current.version == 2
    assert reloader.live.settings.observability.log_level == "debug"
    assert count(reloader, "applied") == 1


def test_a_reloadable_key_is_swapped_into_the_live_config_and_given_to_appliers(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "s.toml", rate=100)
    reloader = reloader_for(path)
    seen: list[Settings] = []
    reloader.on_apply(seen.append)
    write(path, rate=7)
    assert reloader.reload() == "applied"
    assert reloader.live.settings.api.rate_limit_per_second == 7
    assert [s.api.rate_limit_per_second for s in seen] == [7]


def test_a_quieter_level_is_announced_before_it_hides_the_announcement(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    write(path, "error")
    assert reloader.reload() == "applied"
    assert "log_level info -> error" in caplog.text
    assert logging.getLogger().level == logging.ERROR


def test_a_file_that_is_not_toml_is_refused_and_the_running_config_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    before = reloader.live.current
    path.write_text("[observability\n")
    assert reloader.reload() == "refused"
    assert reloader.live.current is before
    assert "configuration reload refused (SIGHUP), the running configuration stays" in (caplog.text)
    assert "invalid TOML" in caplog.text
    assert count(reloader, "refused") == 1


def test_a_bad_value_is_refused_naming_the_key_and_the_level_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    path.write_text('[observability]\nlog_level = "loud"\n')
    assert reloader.reload() == "refused"
    assert logging.getLogger().level == logging.INFO
    assert "observability.log_level" in caplog.text and "loud" in caplog.text
    assert reloader.live.settings.observability.log_level == "info"


def test_a_change_that_needs_a_restart_refuses_the_whole_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "s.toml", "info", pool_size=10)
    reloader = reloader_for(path)
    write(path, "debug", pool_size=3)  # one key that may change, one that may not
    assert reloader.reload() == "refused"
    assert "these keys change only with a restart: database.pool_size" in caplog.text
    assert reloader.live.settings.observability.log_level == "info"  # not half of it either
    assert logging.getLogger().level == logging.INFO
    assert reloader.live.current.version == 1


def test_the_same_file_again_changes_nothing_and_keeps_the_version(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml")
    reloader = reloader_for(path)
    assert reloader.reload() == "unchanged"
    assert reloader.live.current.version == 1
    assert count(reloader, "unchanged") == 1


def test_a_reload_reads_every_layer_again(tmp_path: Path) -> None:
    base = write(tmp_path / "base.toml", rate=100)
    over = tmp_path / "over.toml"
    over.write_text("[api]\nrate_limit_burst = 50\n")
    reloader = reloader_for(base, over)
    over.write_text("[api]\nrate_limit_burst = 60\n")
    assert reloader.reload() == "applied"
    snapshot = reloader.live.current
    assert snapshot.settings.api.rate_limit_burst == 60
    assert snapshot.settings.api.rate_limit_per_second == 100
    assert snapshot.files == (str(base), str(over))
    assert snapshot.origins["api.rate_limit_burst"] == str(over)


def test_every_reloadable_key_is_a_setting() -> None:
    keys = {
        f"{section}.{key}"
        for section, field in Settings.model_fields.items()
        for key in field.annotation.model_fields  # type: ignore[union-attr]
    }
    assert keys >= RELOADABLE


def test_changed_keys_names_keys_only() -> None:
    old = load_settings(None, {})
    new = load_settings(None, {"SCHEDULER_DATABASE__URL": "postgresql://u:secret@h/db"})
    assert changed_keys(old, new) == ["database.url"]


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_sighup_runs_the_reload_and_the_process_lives_on(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", "info")
    reloader = reloader_for(path)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        reload_on_sighup(reloader)
        write(path, "warning")
        os.kill(os.getpid(), signal.SIGHUP)
        assert wait_for(lambda: reloader.live.settings.observability.log_level == "warning")
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert logging.getLogger().level == logging.WARNING


def saved_until_seen(path: Path, rate: int, reloader: ConfigReloader, by_rename: bool) -> bool:
    """Save the file (again every half second: the watch may still be starting) until seen."""
    for attempt in range(20):
        target = path.with_suffix(".new") if by_rename else path
        write(target, rate=rate)
        with target.open("a") as file:
            file.write(f"# save {attempt}\n")  # other bytes each time
        if by_rename:
            target.rename(path)  # as editors and ConfigMap updates save
        if wait_for(lambda: reloader.live.settings.api.rate_limit_per_second == rate, 0.5):
            return True
    return False


def test_a_changed_file_reloads_and_a_file_replaced_by_rename_too(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", rate=100)
    reloader = reloader_for(path)
    stop = threading.Event()
    thread = watch_config_files(reloader, stop)
    assert thread is not None
    try:
        assert saved_until_seen(path, 5, reloader, by_rename=False)
        assert saved_until_seen(path, 6, reloader, by_rename=True)
        version = reloader.live.current.version
        (tmp_path / "neighbour.txt").write_text("not ours")
        time.sleep(0.7)
        assert reloader.live.current.version == version  # a neighbour's change reloads nothing
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_no_file_means_nothing_to_watch() -> None:
    reloader = ConfigReloader(LiveConfig.fixed(Settings()), (), {})
    assert watch_config_files(reloader, threading.Event()) is None


def test_scheduler_config_watch_off_leaves_only_sighup(tmp_path: Path) -> None:
    reloader = reloader_for(write(tmp_path / "s.toml"))
    off = {"SCHEDULER_CONFIG_WATCH": "off"}
    assert watch_config_files(reloader, threading.Event(), off) is None
    assert watching_wanted({}) and watching_wanted({"SCHEDULER_CONFIG_WATCH": "ON"})
    with pytest.raises(ConfigError, match="SCHEDULER_CONFIG_WATCH='sometimes': write on or off"):
        watching_wanted({"SCHEDULER_CONFIG_WATCH": "sometimes"})
