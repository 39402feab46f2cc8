"""What-if: slots under a definition, given downtime, pauses and runs still running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from application.what_if import Facts, counts, differences, late_gap, merged, next_fires, simulate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def every(minutes: int, **more: object) -> dict[str, object]:
    return {"schedule": f"*/{minutes} * * * *", "timezone": "UTC", **more}


def test_the_next_fires_follow_the_definition() -> None:
    assert next_fires(every(15), T0, 3) == [T0 + 15 * MIN, T0 + 30 * MIN, T0 + 45 * MIN]
    assert next_fires({"schedule": None}, T0, 3) == []


def test_without_downtime_every_slot_fires() -> None:
    outcomes = simulate(every(10), T0, T0 + 30 * MIN, Facts())
    assert list(outcomes) == [T0 + m * MIN for m in (0, 10, 20, 30)]
    assert set(outcomes.values()) == {"fired"}


def test_downtime_misfires_by_the_misfire_policy_as_the_dispatcher_decides() -> None:
    down = Facts(downtime=[(T0 + 5 * MIN, T0 + 36 * MIN)])  # back at :36, slots 10, 20, 30 late
    window = (T0, T0 + 40 * MIN)
    skip = simulate(every(10, misfire_policy="skip"), *window, down)
    once = simulate(
        every(10, misfire_policy="fire_once", catchup_window_seconds=3600), *window, down
    )
    catch_up = simulate(
        every(10, misfire_policy="catch_up", catchup_window_seconds=1200), *window, down
    )
    assert [skip[T0 + m * MIN] for m in (0, 10, 20, 30, 40)] == [
        "fired",
        "misfired",
        "misfired",
        "misfired",
        "fired",
    ]
    assert [once[T0 + m * MIN] for m in (10, 20, 30)] == ["misfired", "misfired", "fired"]
    # catch_up fires the late slots inside its 20-minute window (:20 and :30), not :10
    assert [catch_up[T0 + m * MIN] for m in (10, 20, 30)] == ["misfired", "fired", "fired"]


def test_a_slot_just_inside_the_threshold_of_the_return_fires_on_time() -> None:
    down = Facts(downtime=[(T0 + 5 * MIN, T0 + 10 * MIN + timedelta(seconds=30))])
    outcomes = simulate(every(10, misfire_policy="skip"), T0, T0 + 10 * MIN, down)
    assert outcomes[T0 + 10 * MIN] == "fired"


def test_a_run_still_running_skips_queues_or_replaces_by_concurrency_policy() -> None:
    busy = Facts(busy=[(T0 + 5 * MIN, T0 + 25 * MIN)])
    window = (T0, T0 + 30 * MIN)
    by_policy = {
        policy: [
            simulate(every(10, concurrency_policy=policy), *window, busy)[T0 + m * MIN]
            for m in (10, 20, 30)
        ]
        for policy in ("allow", "skip", "queue", "replace")
    }
    assert by_policy == {
        "allow": ["fired", "fired", "fired"],
        "skip": ["skipped", "skipped", "fired"],
        "queue": ["queued", "queued", "fired"],
        "replace": ["replaced", "replaced", "fired"],
    }


def test_paused_or_not_yet_created_slots_are_inactive_for_any_definition() -> None:
    facts = Facts(inactive=[(T0 - 60 * MIN, T0 + 15 * MIN)])
    outcomes = simulate(every(10), T0, T0 + 20 * MIN, facts)
    assert list(outcomes.values()) == ["inactive", "inactive", "fired"]


def test_differences_name_slots_of_one_definition_only_and_changed_outcomes() -> None:
    down = Facts(downtime=[(T0 + 5 * MIN, T0 + 36 * MIN)])
    window = (T0, T0 + 40 * MIN)
    current = simulate(
        every(20, misfire_policy="fire_once", catchup_window_seconds=3600), *window, down
    )
    proposed = simulate(every(20, misfire_policy="skip"), *window, down)
    assert counts(current)["misfired"] == 0 and counts(proposed)["misfired"] == 1
    assert differences(current, proposed) == [
        {"nominal_time": T0 + 20 * MIN, "current": "fired", "proposed": "misfired"}
    ]
    hourly = simulate({"schedule": "0 * * * *"}, *window, Facts())
    assert differences(hourly, current) == [
        {"nominal_time": T0 + 20 * MIN, "current": None, "proposed": "fired"},
        {"nominal_time": T0 + 40 * MIN, "current": None, "proposed": "fired"},
    ]


def test_late_decisions_show_downtime_and_intervals_merge() -> None:
    assert late_gap(T0, T0 + timedelta(seconds=30)) is None
    assert late_gap(T0, T0 + 5 * MIN) == (T0, T0 + 5 * MIN)
    assert merged(
        [(T0 + 2 * MIN, T0 + 4 * MIN), (T0, T0 + 3 * MIN), (T0 + 9 * MIN, T0 + 10 * MIN)]
    ) == [
        (T0, T0 + 4 * MIN),
        (T0 + 9 * MIN, T0 + 10 * MIN),
    ]
