"""On PostgreSQL, a save in another process wakes followers through LISTEN/NOTIFY."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from adapters.postgres.listener import LISTEN, keep_session
from application.commands.app import SchedulerApp
from application.ports import Wakeup
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import open_session
from entrypoints.settings import load_settings
from tests.servers import fresh_postgres_database


def test_a_save_by_another_application_rings_the_listener() -> None:
    with fresh_postgres_database() as url:
        settings = load_settings(None, {"SCHEDULER_DATABASE__URL": url})
        # A separate app object stands in for another process: it shares nothing in memory.
        other = SchedulerApp(env=settings.eventstore_env())
        wakeup, stop = Wakeup(), threading.Event()
        session = open_session(settings, "scheduler-test-listener", (LISTEN,))
        listener = threading.Thread(target=keep_session, args=(session, wakeup, stop), daemon=True)
        listener.start()
        try:
            ctx = CommandContext("t", datetime.now(UTC), uuid.uuid4())
            seen = wakeup.generation()
            for _ in range(20):  # the LISTEN may not be registered yet: retry a few saves
                other.create_task(
                    validate_spec({"name": f"t-{uuid.uuid4().hex}", "command": "true"}), ctx
                )
                if wakeup.wait(seen, 0.5):
                    break
            assert wakeup.generation() != seen
        finally:
            stop.set()
            listener.join(5)
            session.close()
            other.close()
