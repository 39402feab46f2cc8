"""The clean environment a task's process starts with."""

from __future__ import annotations

import os
import re

from adapters.executors.model import ExecutionRequest

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
PARAM_PREFIX = "SCHEDULER_PARAM_"
_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INVALID_CHARS = re.compile(r"[^A-Z0-9_]")
# Whoever may trigger a task must not be able to change how its program is loaded or
# interpreted, or to spoof the run's identity, through a bare-named param.
_PROTECTED_NAMES = frozenset(
    {"PATH", "HOME", "LANG", "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS4", "CDPATH"}
)
_PROTECTED_PREFIXES = ("LD_", "DYLD_", "PYTHON", "LC_", "GCONV_", "SCHEDULER_")


def child_environment(request: ExecutionRequest, home: str | None = None) -> dict[str, str]:
    """Base variables, then the task's env, then its params; nothing of the worker's own.

    Built from nothing, not from the worker's environment: no SCHEDULER_<SECTION>__<KEY>
    setting, no database or bus URL, no key or token the worker was given reaches the task.
    `home` is the task user's home (the worker's HOME when the task runs as the worker).
    """
    home = home or os.environ.get("HOME", "/tmp")
    env = {"PATH": SAFE_PATH, "HOME": home, "LANG": "C.UTF-8"}
    env.update(request.env)
    for name, value in request.params.items():
        env[param_variable(name)] = value
        if _exportable_as_is(name):
            env[name] = value
    # Last, so that neither the task's env nor a param can misstate which run this is.
    env["SCHEDULER_RUN_ID"], env["SCHEDULER_ATTEMPT"] = request.run_id, str(request.attempt)
    if request.shard is not None:
        env["SCHEDULER_SHARD_INDEX"], env["SCHEDULER_SHARD_TOTAL"] = map(str, request.shard)
    return env


def param_variable(name: str) -> str:
    """`run-date` -> `SCHEDULER_PARAM_RUN_DATE`: a name a shell can expand."""
    return PARAM_PREFIX + _INVALID_CHARS.sub("_", name.upper())


def _exportable_as_is(name: str) -> bool:
    if not _VALID_NAME.fullmatch(name) or name in _PROTECTED_NAMES:
        return False
    return not name.startswith(_PROTECTED_PREFIXES)
