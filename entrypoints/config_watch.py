"""Reload the configuration when one of its files changes (watchfiles, inotify on Linux).

The folders of the files are watched, not the files: an editor that saves by renaming, or a
Kubernetes ConfigMap that swaps its `..data` link, replaces the file a watch would hold. A
change reloads only when the bytes of some file differ from what was last read, so a touch
or a neighbour's change costs a read and nothing more.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

from entrypoints.config_loading import ConfigError

if TYPE_CHECKING:
    from entrypoints.reload import ConfigReloader

logger = logging.getLogger(__name__)

CONFIGMAP_LINK = "..data"  # what a Kubernetes ConfigMap volume swaps on an update
WATCH_ENV = "SCHEDULER_CONFIG_WATCH"  # off: reload on SIGHUP only (say, files on NFS)
SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def fingerprint(files: tuple[Path, ...]) -> tuple[str, ...]:
    """A digest of each file's bytes ("missing" when it cannot be read)."""
    digests = []
    for path in files:
        try:
            digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
        except OSError:
            digests.append("missing")
    return tuple(digests)


def watching_wanted(environ: Mapping[str, str]) -> bool:
    """Whether SCHEDULER_CONFIG_WATCH leaves file watching on (the default).

    Raises:
        ConfigError: the variable is neither on nor off.
    """
    value = environ.get(WATCH_ENV, "on").strip().lower()
    if value in SWITCH:
        return SWITCH[value]
    raise ConfigError(WATCH_ENV, [f"{WATCH_ENV}={value!r}: write on or off"])


def watch_config_files(
    reloader: ConfigReloader, stop: threading.Event, environ: Mapping[str, str] = os.environ
) -> threading.Thread | None:
    """Start a daemon thread that reloads on a change of the files; None when there are none
    or SCHEDULER_CONFIG_WATCH is off (then only SIGHUP reloads)."""
    files = tuple(path.absolute() for path in reloader.files)
    if not files or not watching_wanted(environ):
        return None
    thread = threading.Thread(
        target=_watch, args=(reloader, files, stop), name="config-watch", daemon=True
    )
    thread.start()
    return thread


def _watch(reloader: ConfigReloader, files: tuple[Path, ...], stop: threading.Event) -> None:
    # A file named through a link is watched where the link is and where its target is,
    # unless the target is inside a ConfigMap's `..<timestamp>` folder, which goes away.
    targets = (path.resolve() for path in files)
    places = {*files, *(path for path in targets if not path.parent.name.startswith(".."))}
    folders = sorted({str(path.parent) for path in places})
    names = {path.name for path in places} | {CONFIGMAP_LINK}
    seen = fingerprint(files)
    try:
        for _changes in watchfiles.watch(
            *folders,
            watch_filter=lambda _change, path: Path(path).name in names,
            stop_event=stop,
            recursive=False,
            raise_interrupt=False,
            debounce=500,  # ms: several writes of one save are one change
        ):
            now = fingerprint(files)
            if now != seen:
                seen = now
                reloader.reload(trigger="file change")
    except Exception as error:  # the process goes on; SIGHUP still reloads
        logger.error(
            "watching the configuration files stopped (SIGHUP still reloads): %s",
            error,
            extra={"action": "config_watch_failed"},
        )
