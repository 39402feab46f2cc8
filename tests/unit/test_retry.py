"""Retries: backoff bounds as a property, and a run's attempts through the application."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.commands.app import SchedulerApp
from application.messages import Report
from application.ports import FakeClock
from domain.context import CommandContext
from domain.errors import IllegalTransitionError
from domain.retry import JITTER, RetryPolicy, backoff_delay
from domain.task_run import RunStatus
from tests.unit.conftest import make_spec


@given(
    failures=st.integers(min_value=1, max_value=50),
    base=st.floats(min_value=0, max_value=3600),
    multiplier=st.floats(min_value=1, max_value=10),
    cap=st.floats(min_value=0, max_value=86_400),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_stays_within_jitter_of_the_capped_exponential(
    failures: int, base: float, multiplier: float, cap: float, draw: float
) -> None:
    delay = backoff_delay(failures, base, multiplier, cap, draw)
    raw = min(base * multiplier ** (failures - 1), cap)
    assert 0 <= delay <= cap
    assert raw * (1 - JITTER) - 1e-9 <= delay <= raw * (1 + JITTER) + 1e-9


def test_a_failing_run_is_retried_after_its_backoff_then_fails_with_the_last_exit_code(
    clock: FakeClock,
) -> None:
    with SchedulerApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, draw=lambda: 0.5) as app:
        ctx = CommandContext("t", clock.now(), uuid.uuid4())
        worker = uuid.uuid4()
        app.register_worker_once(worker, {"name": "w"}, ctx)
        spec = make_spec(retry_count=2, retry_delay_seconds=10, retry_backoff=3)
        task_id = app.create_task(spec, ctx).aggregate_id
        run_id = app.trigger_task(task_id, ctx).aggregate_id
        for attempt, exit_code in ((1, 3), (2, 4), (3, 5)):
            [done] = app.assign_runs([(run_id, worker)], "d", clock.now())
            assert done.attempt == attempt
            app.record_reports(
                [Report("failed", run_id, attempt, worker, exit_code=exit_code, error="boom")],
                clock.now(),
            )
            run = app.get_run(run_id)
            if attempt < 3:
                assert run.status is RunStatus.RETRYING
                expected = 10 * 3 ** (attempt - 1)  # draw 0.5 means no jitter
                assert run.retry_at == clock.now() + timedelta(seconds=expected)
                with pytest.raises(IllegalTransitionError):
                    run.assign(worker, CommandContext("d", clock.now(), uuid.uuid4()))
                clock.advance(expected)
        run = app.get_run(run_id)
        assert run.status is RunStatus.FAILED
        assert list(app.events.get(run_id))[-1].exit_code == 5


def test_a_run_reads_its_retry_policy_from_the_definition_it_was_requested_with() -> None:
    definition = make_spec(
        retry_count=3, retry_delay_seconds=10, retry_backoff=2, retry_max_delay_seconds=25
    ).as_event_data()
    policy = RetryPolicy.of(definition)
    assert policy == RetryPolicy(count=3, delay_seconds=10.0, backoff=2.0, max_delay_seconds=25.0)
    assert [policy.delay_after(n, 0.5) for n in (1, 2, 3)] == [10.0, 20.0, 25.0]


def test_a_definition_stored_without_retry_fields_means_no_retry_and_no_delay() -> None:
    assert RetryPolicy.of({}) == RetryPolicy(0, 0.0, 1.0, 0.0)
    assert RetryPolicy.of({"retry_count": None, "retry_backoff": 0}) == RetryPolicy()
    assert RetryPolicy().delay_after(4, 0.9) == 0.0
