"""Retention on PostgreSQL end to end: runs finish, are archived and detached, all still works."""

from __future__ import annotations

import gzip
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from tests.e2e.conftest import SCHEDULER, SchedulerProcess, running_scheduler, wait_for_run
from tests.servers import fresh_postgres_database

PARTITION = 1000


def cli(proc: SchedulerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCHEDULER), *args],
        cwd=proc.workdir,
        env=proc.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def finished(client: httpx.Client, task: str, count: int) -> list[str]:
    runs = [client.post(f"/api/tasks/{task}/trigger").json()["run_id"] for _ in range(count)]
    for run in runs:
        assert wait_for_run(client, run)["status"] == "succeeded"
    return runs


def live_rows(url: str, run_ids: list[str]) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM scheduler_events WHERE originator_id = ANY(%s::uuid[])",
            [run_ids],
        ).fetchone()
    return int(row[0]) if row else 0


def test_finished_runs_are_archived_detached_verified_and_read_back(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        env = {
            "SCHEDULER_DATABASE__URL": url,
            "SCHEDULER_RETENTION__ENABLED": "true",
            "SCHEDULER_RETENTION__PARTITION_EVENTS": str(PARTITION),
            "SCHEDULER_RETENTION__ARCHIVE_DIR": str(tmp_path / "archive"),
        }
        with running_scheduler(tmp_path, env) as scheduler:
            with httpx.Client(base_url=scheduler.url, timeout=10) as client:
                client.post("/api/tasks", json={"name": "job", "command": "echo archived"})
                client.post(
                    "/api/tasks",
                    json={"name": "hourly", "command": "true", "schedule": "0 * * * *"},
                )
                old = finished(client, "job", 20)
                # Stand in for a busy day: the log moves past the first partition's bound.
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(
                        "SELECT setval('scheduler_events_notification_id_seq', %s)",
                        [PARTITION + 1],
                    )
                recent = finished(client, "job", 3)
                before = datetime.now(UTC)

                export = cli(
                    scheduler, "archive", "export", "--before", before.isoformat(), "--detach"
                )
                assert export.returncode == 0, export.stderr
                assert f"of {len(old)} runs below position {PARTITION}" in export.stdout
                assert live_rows(url, old) == 0
                assert live_rows(url, recent) > 0
                listing = client.get("/api/system/archives").json()
                assert [f["aggregates"] for f in listing["files"]] == [len(old)]

                # The read tables dropped the runs that ended before the cutoff.
                position = int(export.stdout.split("below position ")[1].split()[0])
                assert position == PARTITION
                past = (before - timedelta(seconds=1)).isoformat()
                again = client.get(f"/api/runs/{old[0]}", params={"as_of": past})
                assert again.status_code == 200 and again.json()["status"] == "succeeded"
                assert again.json()["output"] == "archived\n"
                history = client.get(f"/api/runs/{old[0]}/events").json()
                assert [e["type"] for e in history][-1] == "TaskRun.Succeeded"

                assert cli(scheduler, "archive", "verify").returncode == 0
                audit = cli(scheduler, "audit", "verify")
                assert audit.returncode == 0, audit.stderr
                assert client.post("/api/system/archives/verify").json()["intact"] is True

                refused = client.post(
                    "/api/tasks/hourly/backfill",
                    json={
                        "from": (before - timedelta(hours=3)).isoformat(),
                        "to": (before - timedelta(hours=1)).isoformat(),
                        "dry_run": False,
                    },
                )
                assert refused.status_code == 422 and "archived" in refused.text

                events_file = tmp_path / "archive" / listing["files"][0]["file"]
                original = events_file.read_bytes()
                lines = gzip.decompress(original).replace(b"archived", b"rewritten", 1)
                events_file.write_bytes(gzip.compress(lines))
                tampered = cli(scheduler, "archive", "verify")
                assert tampered.returncode == 3 and events_file.name in tampered.stderr
                events_file.write_bytes(original)

                assert finished(client, "job", 1)
            assert scheduler.stop() == 0
            scheduler.start()
            with httpx.Client(base_url=scheduler.url, timeout=10) as client:
                assert finished(client, "job", 1)
                rebuilt = cli(scheduler, "projections", "rebuild", "runs")
                assert rebuilt.returncode == 0, rebuilt.stderr
                runs = client.get("/api/runs", params={"limit": 100}).json()
                ids = {r["id"] for r in runs["items"]}
                assert not ids & set(old)
                assert cli(scheduler, "archive", "verify").returncode == 0
