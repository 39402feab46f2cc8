"""`GET /api/system/config`: the configuration in force in this process, secrets masked."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from domain.secrets import MASK
from entrypoints.api.deps import LiveConfigDep
from entrypoints.api.json_response import OrjsonResponse
from entrypoints.api.strict import StrictRoute
from entrypoints.live_config import RELOADABLE, ConfigSnapshot

router = APIRouter(tags=["system"], route_class=StrictRoute)


@router.get("/api/system/config", response_class=OrjsonResponse)
def effective_config(live: LiveConfigDep) -> dict[str, Any]:
    """The effective configuration of this API process (files, ${VAR}, SCHEDULER_* overrides).

    Passwords, keys, tokens, URL passwords and every value written encrypted (`enc:`) are
    `***`. `files` are the config files in the order they were laid over each other;
    `origins` names the file or environment variable that set each key (the others are
    defaults); `version` counts the reloads applied since start, `loaded_at` is the last;
    `reloadable` lists the keys a reload (SIGHUP, or a changed file) may change.
    """
    snapshot = live.current
    return {
        "version": snapshot.version,
        "loaded_at": snapshot.loaded_at.isoformat(),
        "files": list(snapshot.files),
        "origins": dict(snapshot.origins),
        "reloadable": sorted(RELOADABLE),
        "settings": masked_settings(snapshot),
    }


def masked_settings(snapshot: ConfigSnapshot) -> dict[str, Any]:
    """Every setting, with secrets, URL passwords and encrypted values as ***."""
    masked = snapshot.settings.masked()
    for path in snapshot.encrypted:
        section, _, key = path.partition(".")
        key = key.split(".")[0].split("[")[0]
        if isinstance(masked.get(section), dict) and key in masked[section]:
            masked[section][key] = MASK
    return masked
