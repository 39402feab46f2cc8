"""What a backfill costs on the store: a 10,000-slot dry run, and releasing 10,000 slots.

Run: `.venv/bin/python benchmarks/backfill_costs.py [--database-url URL] [--slots N]`. In
process on a fresh database (SQLite file by default; a PostgreSQL URL for a server), no
dispatcher: `advance_backfills` is called as the dispatcher would, the runs ended at once.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import build_container
from entrypoints.settings import load_settings

START = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    """Print the time of a dry run and of releasing every slot, 100 in flight at a time."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--slots", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite:///{Path(directory) / 'bench.db'}"
        container = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
        try:
            app = container.app
            ctx = CommandContext("bench", datetime.now(UTC), uuid.uuid4())
            spec = validate_spec(
                {"name": f"b-{uuid.uuid4().hex[:6]}", "command": "true", "schedule": "* * * * *"}
            )
            task_id = app.create_task(spec, ctx).aggregate_id
            window = (START, START + timedelta(minutes=args.slots - 1))
            began = time.perf_counter()
            slots = app.preview_backfill(task_id, *window, ctx.now)
            preview = time.perf_counter() - began
            backfill_id = app.start_backfill(task_id, window, 100, "allow", ctx).aggregate_id
            began, rounds = time.perf_counter(), 0
            while app.get_backfill(backfill_id).status == "running":
                ended = dict.fromkeys(app.get_backfill(backfill_id).in_flight, False)
                app.advance_backfills([(backfill_id, ended)], "bench", datetime.now(UTC))
                rounds += 1
            release = time.perf_counter() - began
            print(f"dry run of {len(slots)} slots        {preview:8.2f} s")
            print(f"release {len(slots)} slots, 100 at a time {release:8.2f} s ({rounds} rounds)")
        finally:
            container.close()


if __name__ == "__main__":
    main()
