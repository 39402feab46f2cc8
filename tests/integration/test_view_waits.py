"""Read-your-writes waits for the views that handle what was saved, woken across processes."""

from __future__ import annotations

import threading
import time
import uuid

from application.ports import Wakeup
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container, build_container
from entrypoints.settings import load_settings
from projections.waiter import PositionWaiter
from tests.servers import fresh_postgres_database

NO_POLL = 60.0  # a waiter that polled would sleep this long between looks


def test_a_runner_committing_in_another_process_wakes_the_wait_at_once() -> None:
    with fresh_postgres_database() as url:
        settings = load_settings(None, {"SCHEDULER_DATABASE__URL": url})
        api, projector = build_container(settings, process="api"), None
        try:
            projector = build_container(settings, process="projector")
            ctx = CommandContext("tester", api.clock.now(), uuid.uuid4())
            waiter = PositionWaiter(api.database, api.committed, poll_seconds=NO_POLL)
            # The API's own session LISTENs from its start; give the LISTEN a moment.
            time.sleep(0.2)
            saved = api.app.create_task(validate_spec({"name": "woken", "command": "true"}), ctx)
            apply_later = threading.Timer(0.3, lambda: [r.catch_up() for r in projector.runners])
            began = time.monotonic()
            apply_later.start()
            try:
                assert waiter.wait(saved.position, ["tasks"], timeout=10)
            finally:
                apply_later.join()
            waited = time.monotonic() - began
            assert 0.3 <= waited < 3, f"woke after {waited:.2f} s: not by the NOTIFY"
        finally:
            if projector is not None:
                projector.close()
            api.close()


def test_a_save_waits_only_for_the_views_that_handle_its_event_types(container) -> None:  # type: ignore[no-untyped-def]
    ctx = CommandContext("tester", container.clock.now(), uuid.uuid4())
    task = container.app.create_task(validate_spec({"name": "t", "command": "true"}), ctx)
    run = container.app.trigger_task(task.aggregate_id, ctx)
    waiter, names = container.waiter, container.projection_names
    assert run.position is not None and task.position is not None

    assert set(waiter.views_for(container.app.saved_topics(run.position), names)) == {
        "tasks",
        "runs",
        "run_stats",
    }
    assert waiter.views_for(container.app.saved_topics(task.position), names) == ["tasks"]
    assert waiter.views_for(None, names) == names, "a save it does not know: every view"
    # Nothing applied yet (no runner ran): the waits for the views a save touches time out,
    # a wait for views that handle none of its events is over at once.
    assert not waiter.wait(run.position, ["runs"], timeout=0.05)
    assert waiter.wait(run.position, [], timeout=0.05)


class CountingWaiter(PositionWaiter):
    """The waiter, counting its reads of the tracking table."""

    reads = 0

    def positions(self) -> dict[str, int]:
        self.reads += 1
        return super().positions()


def test_waits_after_the_same_ring_share_one_read_and_a_timed_out_wait_reads_again(
    container: Container,
) -> None:
    ctx = CommandContext("tester", container.clock.now(), uuid.uuid4())
    task = container.app.create_task(validate_spec({"name": "t", "command": "true"}), ctx)
    for runner in container.runners:
        runner.catch_up()
    # A doorbell of its own: on PostgreSQL the container's rings when the catch-up's NOTIFY
    # comes back, a moment later, which on a busy machine fell between the two waits.
    doorbell = Wakeup()
    waiter = CountingWaiter(container.database, doorbell, poll_seconds=0.05)
    assert task.position is not None

    assert waiter.wait(task.position, ["tasks"], timeout=1)
    assert waiter.wait(task.position, ["tasks"], timeout=1)
    assert waiter.reads == 1, "no ring since the first read: the second wait used it"
    doorbell.ring()
    assert waiter.wait(task.position, ["tasks"], timeout=1)
    assert waiter.reads == 2, "a ring since: read again"
    # A position nothing rings for: each poll (a lost ring) reads the table again.
    assert not waiter.wait(task.position + 1_000, ["tasks"], timeout=0.3)
    assert waiter.reads >= 4
