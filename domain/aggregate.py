"""The base aggregate: events carry metadata and take their time from the command."""

from __future__ import annotations

from typing import Any, Self

from eventsourcing.domain import Aggregate

from domain.context import CommandContext


class SchedulerAggregate(Aggregate):
    """An aggregate whose events record who, why and when, all passed in."""

    class Event(Aggregate.Event):
        metadata: dict[str, str]

    class Created(Event, Aggregate.Created):
        pass

    def __init__(self) -> None:
        # State is set by the Created event's apply(); nothing is read here.
        pass

    @classmethod
    def _create_with(
        cls, event_class: type[Any], aggregate_id: Any, ctx: CommandContext, **fields: Any
    ) -> Self:
        """Create the aggregate from its Created event, stamped with the context."""
        return cls._create(
            event_class, id=aggregate_id, timestamp=ctx.now, metadata=ctx.metadata(), **fields
        )

    def _record(self, event_class: type[Any], ctx: CommandContext, **fields: Any) -> None:
        """Trigger one event, stamped with the context's time and metadata."""
        self.trigger_event(event_class, timestamp=ctx.now, metadata=ctx.metadata(), **fields)
