"""The event types a `--type` option names, as the topics stored in the log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

# Imported for their event classes: a type is known once its aggregate's module is loaded.
import domain.api_key
import domain.api_key_name
import domain.backfill
import domain.namespace_limits
import domain.subscription
import domain.task
import domain.task_name
import domain.task_run
import domain.worker  # noqa: F401
from domain.aggregate import SchedulerAggregate

TOPIC_PREFIX = "scheduler:"


class UnknownEventTypeError(ValueError):
    """A `--type` value that selects no event type the code defines."""


def _event_classes(base: type) -> Iterator[type]:
    subclass: type
    for subclass in base.__subclasses__():
        yield subclass
        yield from _event_classes(subclass)


def known_topics() -> list[str]:
    """Every stored event topic the domain defines, sorted (`scheduler:Task.Created`, …)."""
    # The aggregate metaclass redefines nested events, so one topic has two classes.
    topics = {vars(c).get("TOPIC") for c in _event_classes(SchedulerAggregate.Event)}
    return sorted(t for t in topics if isinstance(t, str) and t.startswith(TOPIC_PREFIX))


def topics_named(types: Sequence[str]) -> list[str]:
    """The topics `types` select: `Task` is every `Task.*` event, `TaskRun.Failed` just one.

    Raises:
        UnknownEventTypeError: a name that selects no known event type.
    """
    known = known_topics()
    selected: list[str] = []
    for name in types:
        exact = TOPIC_PREFIX + name
        matches = [t for t in known if t == exact or t.startswith(f"{exact}.")]
        if not matches:
            aggregates = sorted({t.removeprefix(TOPIC_PREFIX).split(".")[0] for t in known})
            raise UnknownEventTypeError(
                f"no event type {name!r}: name an aggregate ({', '.join(aggregates)}) or one "
                "of its events such as TaskRun.Failed (docs/events.md lists them all)"
            )
        selected += [t for t in matches if t not in selected]
    return selected
