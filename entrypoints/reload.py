"""Reloading the configuration of a running process: on SIGHUP and when its files change.

A reload reads the same sources the process started from (the files, then the environment).
It is applied only when every changed key is in RELOADABLE; otherwise, or when a file is not
TOML or a value is bad, it is refused with the reason in the log and the running
configuration stays. Either way it is counted in scheduler_config_reloads_total{result}.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from entrypoints.config_loading import NO_FILE, ConfigError, config_files
from entrypoints.live_config import RELOADABLE, LiveConfig, snapshot_of
from entrypoints.settings import Settings, load_sourced_settings

logger = logging.getLogger(__name__)

RESULTS = ("applied", "unchanged", "refused")
# Applied in place: the level of the root logger and of the loggers uvicorn configures.
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")

Applier = Callable[[Settings], None]  # puts new settings into an object that copied them


class ConfigReloader:
    """Re-reads the files and the environment, checks, and swaps the live configuration."""

    def __init__(
        self,
        live: LiveConfig,
        config_paths: Sequence[str | Path] = (),
        environ: Mapping[str, str] = os.environ,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.live = live
        self._paths = tuple(config_paths)
        self._environ = environ
        self._now = now
        self._lock = threading.Lock()
        self._appliers: list[Applier] = []
        self.reloads = Counter(
            "scheduler_config_reloads_total",
            "Configuration reloads (SIGHUP or a changed file) by result",
            ["result"],
            registry=None,
        )
        for result in RESULTS:
            self.reloads.labels(result=result)  # every series exists from the start
        self.version = Gauge(
            "scheduler_config_version",
            "Version of the configuration in force: 1 at start, +1 per applied reload",
            registry=None,
        )
        self.version.set_function(lambda: self.live.current.version)

    @property
    def files(self) -> tuple[Path, ...]:
        """The files each reload reads, in order."""
        return config_files(self._paths, self._environ)[0]

    def on_apply(self, applier: Applier) -> None:
        """Call `applier` with the new settings after each applied reload."""
        self._appliers.append(applier)

    def register_metrics(self, registry: CollectorRegistry) -> None:
        """Expose the reload counter and the version on the process's /metrics."""
        registry.register(self.reloads)
        registry.register(self.version)

    def reload(self, trigger: str = "SIGHUP") -> str:
        """Load, check and apply; returns applied, unchanged or refused (also counted)."""
        with self._lock:
            result = self._reload(trigger)
        self.reloads.labels(result=result).inc()
        return result

    def _reload(self, trigger: str) -> str:
        running = self.live.current
        source = ", ".join(str(p) for p in self.files) or NO_FILE
        try:
            loaded = load_sourced_settings(self._paths, self._environ)
        except ConfigError as error:
            return _refused(source, trigger, str(error))
        changed = changed_keys(running.settings, loaded.model)
        needs_restart = [key for key in changed if key not in RELOADABLE]
        if needs_restart:
            reason = f"these keys change only with a restart: {', '.join(needs_restart)}"
            return _refused(source, trigger, reason)
        old_level, level = (
            running.settings.observability.log_level,
            loaded.model.observability.log_level,
        )
        if not changed:
            logger.info(
                "configuration reloaded from %s: log_level %s; nothing changed (version %s)",
                source,
                level,
                running.version,
                extra={"action": "config_unchanged", "trigger": trigger},
            )
            return "unchanged"
        snapshot = snapshot_of(loaded, running.version + 1, self._now())
        self.live.swap(snapshot)
        for applier in self._appliers:
            applier(loaded.model)
        change = f"{old_level} -> {level}" if level != old_level else level
        message = (
            f"configuration reloaded from {source}: log_level {change}; "
            f"version {snapshot.version}, changed: {', '.join(changed)}"
        )
        if _rank(level) < _rank(old_level):
            set_log_level(level)  # so that this message shows at the new level too
        logger.warning(message, extra={"action": "config_reloaded", "trigger": trigger})
        set_log_level(level)
        logger.debug("debug messages are shown now")  # seen only if the level applied
        return "applied"


def _refused(source: str, trigger: str, reason: str) -> str:
    logger.error(
        "configuration reload refused (%s), the running configuration stays: %s",
        trigger,
        reason,
        extra={"action": "config_reload_refused", "source": source, "trigger": trigger},
    )
    return "refused"


def _rank(level: str) -> int:
    return int(logging.getLevelName(level.upper()))


def set_log_level(level: str) -> None:
    """Set the level of every logger the process configured (the one place that does)."""
    for name in LOGGERS:
        logging.getLogger(name).setLevel(level.upper())


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """The dotted keys whose values differ (names only: values may be secrets)."""
    before, after = dict(_flatten(old.model_dump())), dict(_flatten(new.model_dump()))
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _flatten(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, dict) and not prefix:
            yield from _flatten(value, f"{key}.")
        else:
            yield f"{prefix}{key}", value


def reload_on_sighup(reloader: ConfigReloader) -> None:
    """Install the SIGHUP handler (main thread only); the reload runs in a thread of its own.

    Not in the handler itself: reading a file and logging there could fail or deadlock on a
    lock that the interrupted code holds (a stream's buffer, for one).
    """

    def handle(signum: int, frame: Any) -> None:
        threading.Thread(target=reloader.reload, name="config-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handle)
