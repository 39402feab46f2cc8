"""Which user a task's process runs as: never root unless `[worker] run_as_user` says so."""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FALLBACK_USER = "nobody"  # what a root worker runs tasks as when run_as_user is unset
WORKER_ITSELF = "$worker"  # run_as_user meaning "the worker's own user, root included"


class TaskUserError(Exception):
    """`[worker] run_as_user` cannot be honoured on this host by this worker."""


@dataclass(frozen=True)
class TaskUser:
    """The identity a task process gets: uid, gid, supplementary groups and home."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def describe(self) -> str:
        """`nobody (uid 65534)`."""
        return f"{self.name} (uid {self.uid})"


def _from_entry(entry: pwd.struct_passwd) -> TaskUser:
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return TaskUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def lookup_user(name_or_uid: str) -> TaskUser:
    """The passwd entry of a user name or a numeric uid.

    Raises:
        TaskUserError: no such user on this host.
    """
    try:
        if name_or_uid.isdigit():
            return _from_entry(pwd.getpwuid(int(name_or_uid)))
        return _from_entry(pwd.getpwnam(name_or_uid))
    except KeyError:
        kind = "uid" if name_or_uid.isdigit() else "user"
        raise TaskUserError(
            f"[worker] run_as_user: there is no {kind} {name_or_uid!r} on this host"
        ) from None


def resolve_task_user(
    configured: str | None,
    euid: int | None = None,
    lookup: Callable[[str], TaskUser] = lookup_user,
) -> TaskUser:
    """The user tasks run as, for a worker whose effective uid is `euid`.

    Unset on a non-root worker: the worker's own user. Unset on a root worker: `nobody`,
    so a task can never read /etc/shadow or the worker's credentials by accident; a root
    worker runs tasks as root only when run_as_user names root (or 0) explicitly.

    Raises:
        TaskUserError: the user does not exist, or only root could switch to it.
    """
    euid = os.geteuid() if euid is None else euid
    if configured == WORKER_ITSELF:  # said knowingly (config/development.toml): as the worker
        return lookup(str(euid))
    if configured is None:
        if euid != 0:
            return lookup(str(euid))
        try:
            return lookup(FALLBACK_USER)
        except TaskUserError:
            raise TaskUserError(
                f"the worker runs as root and [worker] run_as_user is unset, so tasks would "
                f"run as {FALLBACK_USER!r}, which this host lacks: set run_as_user to an "
                "unprivileged user (or to root, to run tasks as root knowingly)"
            ) from None
    user = lookup(configured)
    if user.uid != euid and euid != 0:
        raise TaskUserError(
            f"[worker] run_as_user is {user.describe()}, but the worker runs as uid {euid}: "
            "only a worker started as root can run tasks as another user "
            "(unset run_as_user, or start the worker as root)"
        )
    return user


def can_access(path: str, user: TaskUser, mode: int = os.X_OK) -> bool:
    """Whether `user` could open `path` (os.R_OK) or run it (os.X_OK), by permission bits.

    os.access answers for the worker's own user only; this walks the real path's directories
    with the task user's uid and groups instead (ACLs and capabilities are not considered).
    """
    if user.uid == 0:
        return True
    try:
        target = os.path.realpath(path)
        folders = Path(target).parents
        reachable = all(_allows(os.stat(d), user, os.X_OK) for d in folders)
        return reachable and _allows(os.stat(target), user, mode)
    except OSError:
        return False


def _allows(info: os.stat_result, user: TaskUser, mode: int) -> bool:
    bits = {os.R_OK: 4, os.X_OK: 1}[mode]
    if info.st_uid == user.uid:
        shift = 6
    elif info.st_gid == user.gid or info.st_gid in user.groups:
        shift = 3
    else:
        shift = 0
    return bool(stat.S_IMODE(info.st_mode) >> shift & bits)
