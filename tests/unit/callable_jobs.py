"""Functions the callable executor's tests call (allowed as `tests.unit.callable_jobs`)."""

from __future__ import annotations

import asyncio
import threading

release = threading.Event()  # what `blocked` waits for
async_calls: list[str] = []


def add(a: str, b: str, scale: str = "1") -> int:
    return (int(a) + int(b)) * int(scale)


def unserialisable() -> object:
    return {1, 2}


def big(size: str) -> str:
    return "x" * int(size)


def broken() -> None:
    raise ValueError("bad input: 42")


def leaves() -> None:
    raise SystemExit(3)


def blocked() -> str:
    release.wait(10)
    return "released"


async def async_add(a: str, b: str) -> int:
    await asyncio.sleep(0)
    return int(a) + int(b)


async def async_forever(tag: str = "") -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        async_calls.append(f"cancelled {tag}")
        raise


async def async_broken() -> None:
    await asyncio.sleep(0)
    raise KeyError("missing")


not_a_function = 42
