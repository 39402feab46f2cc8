"""The part of a task definition the run path reads, checked once when a run is requested."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError


class SealedValue(BaseModel):
    """A secret value as stored: opened only when the delivery is built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enc: StrictStr


class RunDefinition(BaseModel):
    """What the dispatcher and the worker need of a run's task, with the types they assume.

    Stored definitions are validated at the door (TaskSpec); this guards the run path against
    a stored event that was not (an old release, an injected row): such a run is quarantined
    when it is read, instead of failing every dispatch round that looks at it.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: StrictStr
    executor: StrictStr
    command: StrictStr
    args: list[StrictStr] = []
    env: dict[StrictStr, StrictStr | SealedValue] = {}
    secret_env: list[StrictStr] = []
    working_dir: StrictStr | None = None
    timeout_seconds: StrictInt | float = 0
    queue: StrictStr = "default"
    labels: dict[StrictStr, StrictStr] = {}
    priority: Literal["low", "normal", "high", "critical"] = "normal"
    concurrency_policy: StrictStr = "allow"
    routing_strategy: StrictStr = "least_loaded"
    http: dict[str, Any] | None = None


class UnusableDefinitionError(ValueError):
    """A run's stored task definition lacks a field the run path needs, or has a wrong type."""


def check_definition(task: Mapping[str, Any]) -> RunDefinition:
    """The definition, or UnusableDefinitionError naming every field that is wrong."""
    if not isinstance(task, Mapping):
        raise UnusableDefinitionError(f"task definition is {type(task).__name__}, not an object")
    try:
        return RunDefinition.model_validate(dict(task))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'task'}: {e['msg']}" for e in error.errors()
        )
        raise UnusableDefinitionError(f"task definition unusable: {problems}") from None
