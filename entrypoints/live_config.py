"""The configuration in force in a running process: a holder that a reload swaps whole.

Whatever may change while the process runs (RELOADABLE) is read from
here at the moment it is used, never copied at start: the API's rate limits, CORS origins
and IP allowlist read `live.settings` on each request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from domain.secrets import MASK
from entrypoints.config_loading import NO_FILE, LoadedConfig
from entrypoints.settings import Settings

# The one list of what a running process may change (docs/operations.md#configuration).
# Anything else (ports, URLs, pools, credentials, worker identity, ...) needs a restart: a
# reload that changes it is refused whole, so a process never runs half of a new file.
RELOADABLE: frozenset[str] = frozenset(
    {
        "observability.log_level",
        "api.rate_limit_per_second",
        "api.rate_limit_burst",
        "api.auth_failure_limit_per_minute",
        "api.auth_failure_burst",
        "api.cors_origins",
        "api.ip_allowlist",
        "dispatcher.poll_interval_seconds",
        "dispatcher.assign_batch_size",
        "dispatcher.deadline_grace_seconds",
        "dispatcher.republish_after_seconds",
        "dispatcher.max_recoveries",
    }
)
T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True)
class ConfigSnapshot:
    """One configuration as loaded: its settings, version, time and sources."""

    settings: Settings
    version: int  # 1 at start, one more for each reload that changed something
    loaded_at: datetime
    files: tuple[str, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict)  # dotted key -> file or variable
    encrypted: frozenset[str] = frozenset()  # dotted keys written as enc:... in a file

    @property
    def source(self) -> str:
        """The files it was read from, as one text for messages."""
        return ", ".join(self.files) or NO_FILE

    def masked(self) -> dict[str, Any]:
        """Every setting, with secrets, URL passwords and values written encrypted as ***."""
        masked = self.settings.masked()
        for path in self.encrypted:
            section, _, key = path.partition(".")
            key = key.split(".")[0].split("[")[0]
            if isinstance(masked.get(section), dict) and key in masked[section]:
                masked[section][key] = MASK
        return masked


def snapshot_of(loaded: LoadedConfig[Settings], version: int, at: datetime) -> ConfigSnapshot:
    """A snapshot of what the loader read."""
    return ConfigSnapshot(loaded.model, version, at, loaded.files, loaded.origins, loaded.encrypted)


class LiveConfig:
    """Holds the current snapshot; readers take `.settings`, a reload calls `swap`."""

    def __init__(self, snapshot: ConfigSnapshot) -> None:
        self._snapshot = snapshot  # one reference: readers never see half a reload

    @classmethod
    def loaded(cls, loaded: LoadedConfig[Settings], now: datetime | None = None) -> LiveConfig:
        """Version 1, from what the process started with."""
        at = now or datetime.now(UTC)
        return cls(snapshot_of(loaded, 1, at))

    @classmethod
    def fixed(cls, settings: Settings) -> LiveConfig:
        """Settings that no reload will change (tests, tools): no files, no origins."""
        return cls(ConfigSnapshot(settings, 1, datetime.now(UTC)))

    @property
    def current(self) -> ConfigSnapshot:
        """The snapshot in force."""
        return self._snapshot

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self._snapshot.settings

    def swap(self, snapshot: ConfigSnapshot) -> None:
        """Put a new snapshot in force (the reloader checked it)."""
        self._snapshot = snapshot


class Derived(Generic[K, T]):
    """A value built from the live settings, rebuilt only when the part it needs changes.

    `part` picks what the value depends on (compared by equality); `build` makes the value
    from it. A request reads `.value` and pays one comparison while nothing changes.
    """

    def __init__(
        self, live: LiveConfig, part: Callable[[Settings], K], build: Callable[[K], T]
    ) -> None:
        self._live, self._part, self._build = live, part, build
        self._lock = threading.Lock()
        key = part(live.settings)
        self._state: tuple[Any, T] = (key, build(key))

    @property
    def value(self) -> T:
        """The value for the settings in force now."""
        key = self._part(self._live.settings)
        known, value = self._state
        if key == known:
            return value
        with self._lock:  # one rebuild, even when many requests notice the change at once
            if self._state[0] != key:
                self._state = (key, self._build(key))
            return self._state[1]
