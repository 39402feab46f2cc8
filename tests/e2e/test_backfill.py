"""A backfill on PostgreSQL, real processes: two in flight at most, idempotent, no duplicates."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import redis_cluster, wait_until


def most_at_once(runs: list[dict[str, Any]]) -> int:
    """The most runs whose [started_at, finished_at] overlapped at one moment."""
    edges = sorted(
        (datetime.fromisoformat(run[key]), step)
        for run in runs
        for key, step in (("started_at", 1), ("finished_at", -1))
    )  # at a tie an end (-1) sorts before a start: touching runs do not overlap
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def finished(client: httpx.Client, backfill_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(client.get(f"/api/backfills/{backfill_id}").json())
        return found["status"] == "completed"

    wait_until(done, 60, f"backfill {backfill_id} did not complete")
    return found


@pytest.mark.timeout(180)
def test_a_backfill_runs_two_at_a_time_adds_nothing_twice_and_never_repeats_a_cron_slot(
    tmp_path: Path,
) -> None:
    with redis_cluster(tmp_path) as cluster:
        cluster.start_api()
        cluster.start("projector", "projector")
        cluster.start("dispatcher0", "dispatcher")
        cluster.start("worker0", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="8")
        cluster.wait_for_workers(1)
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            body = {"name": "every-second", "command": "sleep 0.4", "schedule": "* * * * * *"}
            assert client.post("/api/tasks", json=body).status_code == 201

            def cron_runs() -> list[dict[str, Any]]:
                listed = client.get("/api/runs", params={"task": "every-second", "limit": 500})
                return [r for r in listed.json()["items"] if r["trigger"] == "cron"]

            wait_until(lambda: len(cron_runs()) >= 2, 20, "cron did not fire twice")
            assert client.post("/api/tasks/every-second/pause").status_code == 200
            fired = sorted(datetime.fromisoformat(r["nominal_time"]) for r in cron_runs())
            # Six slots before the task existed, then the cron-fired ones (up to the newest).
            window = {
                "from": (fired[0] - timedelta(seconds=6)).isoformat(),
                "to": fired[-1].isoformat(),
            }

            preview = client.post(
                "/api/tasks/every-second/backfill", json={**window, "dry_run": True}
            ).json()
            started = client.post(
                "/api/tasks/every-second/backfill",
                json={**window, "dry_run": False, "concurrency": 2},
            )
            assert started.status_code == 202, started.text
            first = finished(client, started.json()["id"])
            again = client.post(
                "/api/tasks/every-second/backfill",
                json={**window, "dry_run": False, "concurrency": 2},
            )
            second = finished(client, again.json()["id"])

            backfill_runs = client.get(
                "/api/runs", params={"backfill": first["id"], "limit": 500}
            ).json()["items"]
            all_runs = client.get("/api/runs", params={"task": "every-second", "limit": 500})
            nominals = Counter(r["nominal_time"] for r in all_runs.json()["items"])

        in_window = fired  # every cron fire seen is in the window, which ends at the newest
        assert preview["existing"] == len(in_window)
        assert preview["slots_total"] == first["slots_total"] == second["slots_total"]
        assert (first["existing"], first["requested"]) == (
            len(in_window),
            first["slots_total"] - len(in_window),
        )
        assert first["finished"] == first["requested"] >= 6 and first["failed"] == 0
        assert (second["requested"], second["existing"]) == (0, second["slots_total"])
        assert len(backfill_runs) == first["requested"]
        assert {r["status"] for r in backfill_runs} == {"succeeded"}
        assert most_at_once(backfill_runs) == 2, backfill_runs
        assert [n for n, count in nominals.items() if count > 1] == []
