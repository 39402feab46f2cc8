"""Example `callable` tasks: `"executor": "callable", "command": "entrypoints.examples.tasks:noop"`.

Arguments arrive as the API stores them: the task's `args` positionally and the trigger's
`params` as keyword arguments, both strings; a function converts what it needs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def noop() -> None:
    """Do nothing: the cost of a run is the scheduler's alone."""


def sleep(seconds: str | float = 1.0) -> float:
    """Sleep in the worker's thread; returns the seconds slept."""
    time.sleep(float(seconds))
    return float(seconds)


async def async_sleep(seconds: str | float = 1.0) -> float:
    """Sleep on the worker's event loop (thousands may wait at once); returns the seconds."""
    await asyncio.sleep(float(seconds))
    return float(seconds)


def echo(*args: str, **kwargs: str) -> dict[str, object]:
    """Return what it was called with: the task's args and the trigger's params."""
    return {"args": list(args), "kwargs": kwargs}


def fail(message: str = "failed on purpose") -> None:
    """Raise, so the run fails with the exception as its error."""
    raise RuntimeError(message)


def incr(key: str, redis_url: str = DEFAULT_REDIS_URL) -> int:
    """One Redis INCR of `key` (the peers benchmark's unit of work); returns the new value."""
    return int(_client(redis_url).incr(key))


def _client(url: str) -> redis.Redis:
    # One client (and its connection pool) per URL per process: a run costs one round trip.
    client = _clients.get(url)
    if client is None:
        import redis

        with _clients_lock:
            client = _clients.setdefault(url, redis.Redis.from_url(url))
    return client
