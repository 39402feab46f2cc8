"""SIGHUP: read the configuration again and apply what a running process can change."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from entrypoints.config_loading import CONFIG_ENV, NO_FILE, ConfigError
from entrypoints.settings import Settings, load_settings

logger = logging.getLogger(__name__)

# Applied in place: the level of the root logger and of the loggers uvicorn configures.
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
RELOADABLE = frozenset({"observability.log_level"})


class ConfigReloader:
    """Re-reads the same sources the process started from: the file, then the environment."""

    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._started = settings  # what needs a restart is compared with this
        self._path = config_path
        self._environ = environ
        self._lock = threading.Lock()
        self.log_level = settings.observability.log_level

    @property
    def source(self) -> str:
        """The file read on each reload, as load_settings names it."""
        return str(self._path or self._environ.get(CONFIG_ENV) or NO_FILE)

    def reload(self) -> bool:
        """Apply the log level of the configuration as it is now; False if it is refused."""
        with self._lock:
            try:
                fresh = load_settings(self._path, self._environ)
            except ConfigError as error:
                logger.error(
                    "configuration reload refused, the running configuration stays: %s",
                    error,
                    extra={"action": "reload_refused", "source": self.source},
                )
                return False
            level = fresh.observability.log_level
            pending = [k for k in changed_keys(self._started, fresh) if k not in RELOADABLE]
            change = f"{self.log_level} -> {level}" if level != self.log_level else level
            message = f"configuration reloaded from {self.source}: log_level {change}"
            if pending:
                message += f"; changed but applied only by a restart: {', '.join(pending)}"
            louder = logging.getLevelName(level.upper()) < logging.getLevelName(
                self.log_level.upper()
            )
            if louder:
                set_log_level(level)  # so that this message shows at the new level too
            logger.warning(message, extra={"action": "reloaded", "source": self.source})
            if not louder:
                set_log_level(level)
            self.log_level = level
            logger.debug("debug messages are shown now")  # seen only if the level applied
            return True


def set_log_level(level: str) -> None:
    """Set the level of every logger the process configured."""
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
