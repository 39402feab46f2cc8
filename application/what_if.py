"""What-if: a task's slots under its definition or a proposed one, given what really happened.

Pure: the facts (downtime, pauses, runs that were running) come in, outcomes per slot go out.
The dispatcher's own misfire rule (`plan_fires`) decides the slots of each downtime gap, so
the answer is what the dispatcher would have done, not a second opinion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from application.dispatch.cron_firing import MISFIRE_THRESHOLD, plan_fires
from domain.backfill_slots import JUST_BEFORE, timing_of, window_slots
from domain.errors import ScheduleError
from domain.timing import has_timing, next_slot

Interval = tuple[datetime, datetime]
# fired: on time, or late within the misfire rule; queued / replaced / skipped: a run of the
# task was still running at the slot (concurrency_policy queue, replace, skip); misfired: the
# dispatcher was down and the misfire policy dropped it; inactive: the task was paused, or did
# not exist yet.
OUTCOMES = ("fired", "queued", "replaced", "skipped", "misfired", "inactive")
OVERLAP_OUTCOME = {"skip": "skipped", "queue": "queued", "replace": "replaced"}


@dataclass(frozen=True)
class Facts:
    """What really happened around a window: each list sorted, intervals [from, to)."""

    downtime: Sequence[Interval] = ()  # no dispatcher running: slots wait for its return
    inactive: Sequence[Interval] = ()  # the task paused, or not created yet
    busy: Sequence[Interval] = ()  # a run of the task was running
    notes: list[str] = field(default_factory=list)


def next_fires(spec: Mapping[str, Any], after: datetime, count: int) -> list[datetime]:
    """The next `count` slots of the definition strictly after `after` (fewer if its timing
    cannot be evaluated further: a stored definition the dispatcher holds as blocked)."""
    timing = timing_of(spec)
    found: list[datetime] = []
    try:
        slot = next_slot(timing, after)
        while slot is not None and len(found) < count:
            found.append(slot)
            slot = next_slot(timing, slot)
    except ScheduleError:
        pass  # what was found is the answer; the task's quarantine entry says why
    return found


def simulate(
    spec: Mapping[str, Any], start: datetime, end: datetime, facts: Facts
) -> dict[datetime, str]:
    """Each slot of the definition in [start, end] and what would have become of it.

    Raises:
        InvalidFieldError: the window holds more than MAX_SLOTS slots (`to`), or the
            definition has no timing (`schedule`).
    """
    timing = timing_of(spec)
    if not has_timing(timing):
        return {}  # manual only: no slots
    policy = str(spec.get("misfire_policy") or "fire_once")
    catchup = int(spec.get("catchup_window_seconds") or 0)
    overlap = str(spec.get("concurrency_policy") or "allow")
    decided_at: dict[datetime, datetime] = {}
    outcome: dict[datetime, str] = {}
    for slot in window_slots(timing, start, end):
        if _inside(slot, facts.inactive):
            outcome[slot] = "inactive"
        elif not _inside(slot, facts.downtime):
            decided_at[slot] = slot
        else:
            outcome[slot] = "pending"  # decided with its gap below
    for gap_from, gap_to in facts.downtime:
        waiting = [s for s, o in outcome.items() if o == "pending" and gap_from <= s < gap_to]
        if not waiting:
            continue
        # The dispatcher's rule when it came back at gap_to, for the slots since the gap began.
        after = max(gap_from, start) - JUST_BEFORE
        plan = plan_fires(timing, after, gap_to, policy, catchup, MISFIRE_THRESHOLD)
        fired = set(plan.fires)
        for slot in waiting:
            if slot in fired:
                decided_at[slot] = gap_to
            else:
                outcome[slot] = "misfired"
    for slot, moment in decided_at.items():
        busy = overlap != "allow" and _inside(moment, facts.busy)
        outcome[slot] = OVERLAP_OUTCOME.get(overlap, "fired") if busy else "fired"
    return dict(sorted(outcome.items()))


def counts(outcomes: Mapping[datetime, str]) -> dict[str, int]:
    """How many slots had each outcome (every outcome named, zero included)."""
    return {name: sum(1 for o in outcomes.values() if o == name) for name in OUTCOMES}


def differences(
    current: Mapping[datetime, str], proposed: Mapping[datetime, str]
) -> list[dict[str, Any]]:
    """The slots whose outcome differs (a slot of one definition only is null in the other).

    A slot that is inactive in one and absent from the other runs in neither: no difference.
    """
    slots = sorted(set(current) | set(proposed))
    quiet = {None, "inactive"}
    return [
        {"nominal_time": s, "current": current.get(s), "proposed": proposed.get(s)}
        for s in slots
        if current.get(s) != proposed.get(s) and not {current.get(s), proposed.get(s)} <= quiet
    ]


def merged(intervals: Sequence[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined, sorted."""
    joined: list[Interval] = []
    for begin, finish in sorted(intervals):
        if joined and begin <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], finish))
        else:
            joined.append((begin, finish))
    return joined


def late_gap(nominal: datetime, decided: datetime) -> Interval | None:
    """The downtime a slot decided this late shows ([nominal, decided)), or None if on time."""
    return (nominal, decided) if decided - nominal > MISFIRE_THRESHOLD else None


def _inside(moment: datetime, intervals: Sequence[Interval]) -> bool:
    return any(begin <= moment < finish for begin, finish in intervals)
