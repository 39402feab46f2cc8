"""Finds the function a `callable` task names (`package.module:function`), if it may."""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from adapters.executors.callable_modules import module_allowed
from domain.callable_target import callable_target_problem


class CallableTargetError(Exception):
    """The command names nothing this worker may call; the run fails with this message."""


@dataclass(frozen=True)
class CallableTarget:
    """A resolved function and whether it is a coroutine function."""

    function: Callable[..., Any]
    is_async: bool


def split_target(command: str) -> tuple[str, str]:
    """(module, attribute path) of `package.module:function`.

    Raises:
        CallableTargetError: the command is not of that form.
    """
    problem = callable_target_problem(command)
    if problem is not None:
        raise CallableTargetError(f"command {problem}")
    module, _, attribute = command.partition(":")
    return module, attribute


class CallableTargets:
    """Resolves commands against `[worker] callable_modules`, importing each module once."""

    def __init__(self, allowed_modules: Iterable[str]) -> None:
        self.allowed_modules = tuple(allowed_modules)
        self._cache: dict[str, CallableTarget] = {}
        self._lock = threading.Lock()

    def resolve(self, command: str) -> CallableTarget:
        """The function `command` names.

        Raises:
            CallableTargetError: malformed, not allowed, not importable, or not callable.
        """
        cached = self._cache.get(command)
        if cached is not None:
            return cached
        module_name, attribute = split_target(command)
        if not module_allowed(module_name, self.allowed_modules):
            listed = ", ".join(self.allowed_modules) or "none"
            raise CallableTargetError(
                f"module {module_name!r} is not in [worker] callable_modules ({listed})"
            )
        with self._lock:  # one import at a time: module code runs once, not raced
            target = self._import(module_name, attribute, command)
            self._cache[command] = target
        return target

    @staticmethod
    def _import(module_name: str, attribute: str, command: str) -> CallableTarget:
        try:
            found: Any = importlib.import_module(module_name)
        except Exception as error:  # the module's own code may raise anything
            raise CallableTargetError(
                f"cannot import {module_name!r}: {type(error).__name__}: {error}"
            ) from error
        for part in attribute.split("."):
            try:
                found = getattr(found, part)
            except AttributeError:
                raise CallableTargetError(f"{command!r}: no attribute {part!r}") from None
        if not callable(found):
            raise CallableTargetError(f"{command!r} is not callable")
        return CallableTarget(found, inspect.iscoroutinefunction(found))
