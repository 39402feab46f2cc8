"""`GET /api/system/config`: the configuration in force in this process, secrets masked."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from entrypoints.api.deps import LiveConfigDep
from entrypoints.api.json_response import OrjsonResponse
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.strict import StrictRoute
from entrypoints.live_config import RELOADABLE

router = APIRouter(tags=["system"], route_class=StrictRoute, dependencies=EVERY_NAMESPACE)


@router.get("/api/system/config", response_class=OrjsonResponse)
def effective_config(live: LiveConfigDep) -> dict[str, Any]:
    """The effective configuration of this API process (files, ${VAR}, SCHEDULER_* overrides).

    Passwords, keys, tokens, URL passwords and every value written encrypted (`enc:`) are
    `***`. `files` are the config files in the order they were laid over each other;
    `origins` names the file or environment variable that set each key (the others are
    defaults); `version` is 1 at start and one more per applied reload, at `loaded_at`;
    `reloadable` lists the keys a reload (SIGHUP, or a changed file) may change.
    """
    snapshot = live.current
    return {
        "version": snapshot.version,
        "loaded_at": snapshot.loaded_at.isoformat(),
        "files": list(snapshot.files),
        "origins": dict(snapshot.origins),
        "reloadable": sorted(RELOADABLE),
        "settings": snapshot.masked(),
    }
