"""History and time travel: an aggregate's events, its past states, definition diffs.

One service for the API and the CLI. It reads the log (never a view), so it answers for any
aggregate that has events, whatever state the read tables are in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from domain.errors import InvalidFieldError, NotFoundError
from domain.secrets import masked_spec
from projections.event_records import event_record

if TYPE_CHECKING:
    from domain.task import Task
    from projections.time_travel import TimeTravel

KINDS = ("run", "task", "worker")
# Fields of a task state that change with every event, not with its definition.
UNCOMPARED = ("version", "updated_at", "next_fire_at")


class AggregateEvents(Protocol):
    """The write side's log of one aggregate, and the task facts only the log knows."""

    def aggregate_events(self, aggregate_id: UUID) -> list[Any]: ...

    def task_number(self, task_id: UUID) -> int | None: ...

    def get_task(self, task_id: UUID, version: int | None = None) -> Task: ...


Positions = Callable[[UUID], Mapping[int, int]]  # aggregate version -> log position


@dataclass(frozen=True)
class Replay:
    """An aggregate's events up to a moment or version, and its state rebuilt from them."""

    events: list[Any]
    state: dict[str, Any] | None
    latest: int  # the aggregate's newest version

    @property
    def version(self) -> int:
        """The version the state is at."""
        return int(self.events[-1].originator_version)


class History:
    """Events, past states and diffs of tasks, runs and workers, read from the log."""

    def __init__(
        self, log: AggregateEvents, time_travel: TimeTravel, positions: Positions | None = None
    ) -> None:
        self._log = log
        self._travel = time_travel
        self._positions = positions  # None: records carry no log position

    def events(self, aggregate_id: UUID, kind: str) -> list[Any]:
        """Every event of one aggregate, oldest first.

        Raises:
            NotFoundError: the aggregate has no events.
        """
        events = self._log.aggregate_events(aggregate_id)
        if not events:
            raise NotFoundError(kind, aggregate_id)
        return events

    def records(self, aggregate_id: UUID, kind: str) -> list[dict[str, Any]]:
        """The aggregate's events as records, each with its log position when known.

        Raises:
            NotFoundError: the aggregate has no events.
        """
        events = self.events(aggregate_id, kind)
        positions = self._positions(aggregate_id) if self._positions else {}
        return [event_record(e, positions.get(e.originator_version)) for e in events]

    def replay(
        self, kind: str, aggregate_id: UUID, as_of: str | None = None, version: int | None = None
    ) -> Replay:
        """The aggregate as it was at `as_of` and/or `version` (its latest state without).

        Raises:
            NotFoundError: the aggregate has no events, or did not exist yet at `as_of`.
            InvalidFieldError: a version beyond the latest, or an `as_of` without an offset.
        """
        return self.replay_of(kind, self.events(aggregate_id, kind), as_of, version)

    def replay_of(
        self, kind: str, events: list[Any], as_of: str | None = None, version: int | None = None
    ) -> Replay:
        """`replay` over an aggregate's events already read (at least one).

        Raises:
            NotFoundError: the aggregate did not exist yet at `as_of`.
            InvalidFieldError: a version beyond the latest, or an `as_of` without an offset.
        """
        chosen = events_at(events, kind, as_of, version)
        return Replay(chosen, self._state(kind, chosen), events[-1].originator_version)

    def state_at(
        self, kind: str, aggregate_id: UUID, as_of: str | None, version: int | None
    ) -> dict[str, Any]:
        """The resource as it was then (`replay`'s state, which always exists)."""
        state = self.replay(kind, aggregate_id, as_of, version).state
        assert state is not None  # events exist up to then, so their projection made a row
        return state

    def task_from_log(self, task_id: UUID) -> dict[str, Any] | None:
        """The task rebuilt from its own events (the view's rules, without the view)."""
        events = self._log.aggregate_events(task_id)
        return self._state("task", events) if events else None

    def run_from_log(self, run_id: UUID) -> dict[str, Any] | None:
        """The run rebuilt from its own events, with its task's number."""
        events = self._log.aggregate_events(run_id)
        run = self._state("run", events) if events else None
        if run is not None and run.get("task_uuid"):
            run["task_id"] = self._log.task_number(UUID(run["task_uuid"]))
        return run

    def worker_from_log(self, worker_id: UUID) -> dict[str, Any] | None:
        """The worker rebuilt from its own events (no load: that needs the runs)."""
        events = self._log.aggregate_events(worker_id)
        return self._state("worker", events) if events else None

    def task_diff(self, task_id: UUID, from_version: int, to_version: int | None) -> dict[str, Any]:
        """What changed in a task's definition and status between two versions (to = latest).

        Raises:
            NotFoundError: the task has no events.
            InvalidFieldError: a version beyond the latest.
        """
        events = self.events(task_id, "task")
        to_version = to_version or events[-1].originator_version
        before = self._state("task", events_at(events, "task", None, from_version))
        after = self._state("task", events_at(events, "task", None, to_version))
        assert before is not None and after is not None
        before, after = masked_spec(before), masked_spec(after)  # masked already; kept so
        # The states show secrets as ***: a changed secret is found in the stored definitions,
        # whose envelopes differ exactly when the value changed (application/secrets.py).
        sealed = self._stored_definitions(task_id, from_version, to_version)
        changes = {
            key: {"from": before.get(key), "to": after.get(key)}
            for key in after
            if key not in UNCOMPARED
            and (before.get(key) != after.get(key) or sealed[0].get(key) != sealed[1].get(key))
        }
        return {"from_version": from_version, "to_version": to_version, "changes": changes}

    def _stored_definitions(self, task_id: UUID, *versions: int) -> list[dict[str, Any]]:
        try:
            return [dict(self._log.get_task(task_id, version=v).spec) for v in versions]
        except Exception:  # a version that cannot be replayed: compare the shown states alone
            return [{} for _ in versions]

    def _state(self, kind: str, events: Sequence[Any]) -> dict[str, Any] | None:
        if kind == "task":
            return self._travel.task_state(events, self._log.task_number(events[0].originator_id))
        if kind == "run":
            return self._travel.run_state(events)
        return self._travel.worker_state(events)


def events_until(
    events: Sequence[Any], *, version: int | None = None, as_of: datetime | None = None
) -> list[Any]:
    """The events up to a version and/or a moment (inclusive), in version order.

    An event that could not be decoded has no time: it belongs to the range of its neighbours.
    """
    chosen = []
    for event in events:
        if version is not None and event.originator_version > version:
            break
        if as_of is not None and event.timestamp is not None and event.timestamp > as_of:
            break
        chosen.append(event)
    return chosen


def events_at(events: list[Any], kind: str, as_of: str | None, version: int | None) -> list[Any]:
    """The events up to `version` and/or `as_of`; says clearly when that state never existed.

    Raises:
        InvalidFieldError: a version beyond the latest, or an `as_of` without an offset.
        NotFoundError: the aggregate did not exist yet at `as_of`.
    """
    latest = events[-1].originator_version
    if version is not None and version > latest:
        raise InvalidFieldError("version", f"{kind} has versions 1 to {latest}")
    moment = None
    if as_of is not None:
        try:
            moment = parse_moment(as_of)
        except ValueError as error:
            raise InvalidFieldError("as_of", str(error)) from None
    chosen = events_until(events, version=version, as_of=moment)
    if not chosen:
        raise NotFoundError(kind, f"{events[0].originator_id} at {as_of}")
    return chosen


def parse_moment(text: str) -> datetime:
    """An ISO 8601 time with an offset; naive times are refused (ambiguous)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. {text}+00:00")
    return moment
