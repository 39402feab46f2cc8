"""Connection naming and the per-request wait budget of the process's pool."""

from __future__ import annotations

import inspect

from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.connection_budget import connection_wait_budget
from adapters.postgres.event_store import BoundedApplicationRecorder
from adapters.postgres.pool import application_name


def test_application_names_are_printable_and_fit_postgresql() -> None:
    assert application_name("api") == "scheduler-api"
    assert application_name("dispatcher", "eu-1") == "scheduler-dispatcher:eu-1"
    assert application_name("dispatcher", "zürich") == "scheduler-dispatcher:z?rich"
    assert len(application_name("dispatcher", "x" * 100)) == 63


def test_a_wait_budget_is_spent_and_never_negative() -> None:
    with connection_wait_budget(1.0) as budget:
        budget.spend(0.4)
        assert round(budget.remaining, 3) == 0.6
        budget.spend(5)
        assert budget.remaining == 0.0


def test_the_event_store_recorder_no_longer_retries_ten_times() -> None:
    # eventsourcing's @retry wraps each call; ours is the library's own function underneath.
    library = PostgresApplicationRecorder.insert_events
    assert BoundedApplicationRecorder.insert_events is inspect.unwrap(library)
    assert BoundedApplicationRecorder.insert_events is not library
