"""The Namespace aggregate: a namespace created through the API, and its limits.

The default namespace exists without one; its first change of limits creates it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext
from domain.errors import InvalidFieldError
from domain.namespace import checked_namespace

LIMIT_FIELDS = ("max_concurrent_runs", "trigger_rate_per_minute")
MAX_LIMIT = 1_000_000


class Namespace(SchedulerAggregate):
    """One namespace: its name, and how many runs it may have out and trigger per minute."""

    TOPIC = "scheduler:Namespace"

    class Created(SchedulerAggregate.Created):
        TOPIC = "scheduler:Namespace.Created"
        name: str
        max_concurrent_runs: int | None  # None: unlimited
        trigger_rate_per_minute: int | None

        def apply(self, aggregate: Namespace) -> None:
            aggregate.name = self.name
            aggregate.max_concurrent_runs = self.max_concurrent_runs
            aggregate.trigger_rate_per_minute = self.trigger_rate_per_minute

    class LimitsChanged(SchedulerAggregate.Event):
        TOPIC = "scheduler:Namespace.LimitsChanged"
        name: str
        max_concurrent_runs: int | None
        trigger_rate_per_minute: int | None

        def apply(self, aggregate: Namespace) -> None:
            aggregate.max_concurrent_runs = self.max_concurrent_runs
            aggregate.trigger_rate_per_minute = self.trigger_rate_per_minute

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        name: str
        max_concurrent_runs: int | None
        trigger_rate_per_minute: int | None

    @staticmethod
    def id_for(name: str) -> UUID:
        """The deterministic id of a namespace's aggregate: creating one twice collides."""
        return uuid5(NAMESPACE_URL, f"/namespaces/{name}")

    @classmethod
    def create(cls, name: str, limits: dict[str, Any], ctx: CommandContext) -> Namespace:
        """Record a new namespace with its limits (an absent limit: unlimited).

        Raises:
            InvalidFieldError: the name or a limit is not acceptable.
        """
        checked_namespace(name, "name")
        _ensure_limits_only(limits)
        chosen = {field: checked_limit(field, limits.get(field)) for field in LIMIT_FIELDS}
        return cls._create_with(cls.Created, cls.id_for(name), ctx, name=name, **chosen)

    def change_limits(self, changes: dict[str, Any], ctx: CommandContext) -> bool:
        """Change the limits named in `changes` (null: unlimited); False when none changed."""
        _ensure_limits_only(changes)
        current = {field: getattr(self, field) for field in LIMIT_FIELDS}
        wanted = {**current, **{f: checked_limit(f, v) for f, v in changes.items()}}
        if wanted == current:
            return False
        self._record(self.LimitsChanged, ctx, name=self.name, **wanted)
        return True

    def limits(self) -> dict[str, int | None]:
        """The limits as a mapping."""
        return {field: getattr(self, field) for field in LIMIT_FIELDS}


def _ensure_limits_only(limits: dict[str, Any]) -> None:
    unknown = sorted(set(limits) - set(LIMIT_FIELDS))
    if unknown:
        names = ", ".join(LIMIT_FIELDS)
        raise InvalidFieldError(unknown[0], f"not a limit; the limits are {names}")


def checked_limit(field: str, value: Any) -> int | None:
    """A limit: a whole number from 1 to MAX_LIMIT, or None for unlimited.

    Raises:
        InvalidFieldError: naming `field`, for anything else (booleans too).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidFieldError(
            field, f"must be a whole number from 1 to {MAX_LIMIT}, or null for unlimited"
        )
    return value
