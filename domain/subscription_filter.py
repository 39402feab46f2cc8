"""Which log events a subscription delivers: a pure value object, matched by the notifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidFieldError
from domain.namespace import checked_namespace
from domain.statuses import RunStatus

MAX_IN_A_ROW = 1_000
# The run outcomes that count towards "failed N times in a row", and the one that resets it.
FAILURE_TOPICS = frozenset({"scheduler:TaskRun.Failed", "scheduler:TaskRun.TimedOut"})
SUCCESS_TOPIC = "scheduler:TaskRun.Succeeded"


@dataclass(frozen=True)
class SubscriptionFilter:
    """Event topics, and optionally tasks, run statuses and a failure streak, all required."""

    topics: tuple[str, ...]  # stored topics, e.g. scheduler:TaskRun.Failed
    tasks: tuple[str, ...] = ()  # task UUIDs; empty: every task
    statuses: tuple[str, ...] = ()  # run statuses the event sets; empty: any
    failed_in_a_row: int | None = None  # only failures that make a streak this long or longer
    namespace: str | None = None  # only its tasks' and runs' events; None: every namespace

    def __post_init__(self) -> None:
        if self.namespace is not None:
            checked_namespace(self.namespace)
        if not self.topics:
            raise InvalidFieldError("event_types", "name at least one event type")
        if any(t.startswith("scheduler:Subscription") for t in self.topics):
            # A dead letter is a Subscription event: delivering those could feed on itself.
            raise InvalidFieldError("event_types", "Subscription events are not delivered")
        unknown = sorted(set(self.statuses) - {s.value for s in RunStatus})
        if unknown:
            raise InvalidFieldError(
                "statuses", f"{unknown[0]!r} is not one of {', '.join(s.value for s in RunStatus)}"
            )
        if self.failed_in_a_row is not None:
            if not 1 <= self.failed_in_a_row <= MAX_IN_A_ROW:
                raise InvalidFieldError("failed_in_a_row", f"must be 1 to {MAX_IN_A_ROW}")
            if not FAILURE_TOPICS & set(self.topics):
                raise InvalidFieldError(
                    "failed_in_a_row", "needs TaskRun.Failed or TaskRun.TimedOut in event_types"
                )

    @property
    def read_topics(self) -> tuple[str, ...]:
        """The topics the notifier reads: the delivered ones, and what a streak counts."""
        if self.failed_in_a_row is None:
            return self.topics
        return tuple(sorted({*self.topics, *FAILURE_TOPICS, SUCCESS_TOPIC}))

    def needs_task(self) -> bool:
        """Whether matching needs the task an event's run belongs to."""
        return bool(self.tasks) or self.failed_in_a_row is not None

    def matches(
        self,
        topic: str,
        status: str | None,
        task_id: str | None,
        streak: int,
        namespace: str | None = None,
    ) -> bool:
        """Whether an event is delivered; `streak` counts its task's failures, this included,
        and `namespace` is the event's task's (None: not a task's or a run's event)."""
        if topic not in self.topics:
            return False
        if self.namespace is not None and namespace != self.namespace:
            return False
        if self.tasks and task_id not in self.tasks:
            return False
        if self.statuses and status not in self.statuses:
            return False
        return self.failed_in_a_row is None or (
            topic in FAILURE_TOPICS and streak >= self.failed_in_a_row
        )

    def as_dict(self) -> dict[str, Any]:
        """The stored form (an event field)."""
        return {
            "topics": list(self.topics),
            "tasks": list(self.tasks),
            "statuses": list(self.statuses),
            "failed_in_a_row": self.failed_in_a_row,
            "namespace": self.namespace,
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> SubscriptionFilter:
        """Back from the stored form."""
        return cls(
            topics=tuple(stored.get("topics") or ()),
            tasks=tuple(stored.get("tasks") or ()),
            statuses=tuple(stored.get("statuses") or ()),
            failed_in_a_row=stored.get("failed_in_a_row"),
            namespace=stored.get("namespace"),
        )


def next_streak(streak: int, topic: str) -> int:
    """A task's failure streak after one of its run outcomes."""
    if topic in FAILURE_TOPICS:
        return streak + 1
    return 0 if topic == SUCCESS_TOPIC else streak
