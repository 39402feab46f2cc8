"""Signals to every process kind: SIGHUP reloads, SIGTERM drains, SIGKILL takes the tasks along."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import Cluster, redis_cluster, wait_until
from tests.e2e.conftest import SchedulerProcess, running_scheduler, wait_for_run
from tests.e2e.test_distributed import wait_running, worker_process_of
from tests.unit.test_executors import live_members

KINDS = ("api", "projector", "dispatcher0", "worker0")
RELOADED = "configuration reloaded from"
DEBUG_ON = "debug messages are shown now"


def write_config(path: Path, level: str) -> Path:
    path.write_text(f'[observability]\nlog_level = "{level}"\n')
    return path


def start(cluster: Cluster, workers: int = 1, **env: str) -> None:
    cluster.start_api()
    cluster.start("projector", "projector")
    cluster.start("dispatcher0", "dispatcher")
    for i in range(workers):
        cluster.start(f"worker{i}", "worker", **env)
    cluster.wait_for_workers(workers)


def wait_logged(
    cluster: Cluster, name: str, text: str, count: int = 1, timeout: float = 10
) -> None:
    wait_until(
        lambda: cluster.log(name, 400).count(text) >= count,
        timeout,
        f"{name} did not log {text!r}:\n{cluster.log(name)}",
    )


def task_pgid(client: httpx.Client, run_id: str) -> int:
    started = [e for e in client.get(f"/api/runs/{run_id}/events").json() if "Started" in e["type"]]
    return int(started[0]["payload"]["pid"])


def test_sighup_reloads_the_log_level_of_every_process_kind_and_none_dies(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "scheduler.toml", "info")
    with redis_cluster(tmp_path) as cluster:
        cluster.defaults["SCHEDULER_CONFIG"] = str(config)
        cluster.defaults["SCHEDULER_CONFIG_WATCH"] = "off"  # the reloads here are SIGHUP's
        start(cluster)
        for name in KINDS:
            assert DEBUG_ON not in cluster.log(name, 400)
        write_config(config, "debug")
        for name in KINDS:
            cluster.signal(name, signal.SIGHUP)
        for name in KINDS:
            wait_logged(cluster, name, f"{RELOADED} {config}: log_level info -> debug")
            wait_logged(cluster, name, DEBUG_ON)  # a debug message: the new level applies
        config.write_text('[observability]\nlog_level = "shouting"\n')
        for name in KINDS:
            cluster.signal(name, signal.SIGHUP)
        for name in KINDS:
            wait_logged(cluster, name, "configuration reload refused")
            assert "observability.log_level" in cluster.log(name, 400)
        time.sleep(0.5)
        assert {n: cluster.processes[n].poll() for n in KINDS} == dict.fromkeys(KINDS)
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            client.post("/api/tasks", json={"name": "after-hup", "command": "echo still here"})
            run = client.post("/api/tasks/after-hup/trigger").json()
            assert wait_for_run(client, run["run_id"])["status"] == "succeeded"


def test_sighup_reloads_scheduler_up_and_it_keeps_serving(tmp_path: Path) -> None:
    config = write_config(tmp_path / "scheduler.toml", "warning")
    env = {"SCHEDULER_CONFIG": str(config), "SCHEDULER_CONFIG_WATCH": "off"}  # SIGHUP's reload
    with running_scheduler(tmp_path, env) as scheduler:
        write_config(config, "debug")
        assert scheduler.process is not None
        scheduler.process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: DEBUG_ON in scheduler.log_tail(400),
            10,
            f"no reload logged:\n{scheduler.log_tail()}",
        )
        assert f"{RELOADED} {config}: log_level warning -> debug" in scheduler.log_tail(400)
        assert scheduler.process.poll() is None
        assert httpx.get(f"{scheduler.url}/health").status_code == 200


def test_sigterm_stops_every_process_kind_with_exit_status_zero(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        start(cluster)
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            # Longer than the first dispatcher takes to stop, so the second records the end.
            client.post("/api/tasks", json={"name": "in-flight", "command": "sleep 6; echo done"})
            run_id = client.post("/api/tasks/in-flight/trigger").json()["run_id"]
            wait_running(client, run_id)
            # The dispatcher goes first, with the run out on a worker: another one takes over.
            assert cluster.stop("dispatcher0") == 0
            cluster.start("dispatcher1", "dispatcher")
            assert wait_for_run(client, run_id)["status"] == "succeeded"
            assert wait_for_run(client, run_id)["output"] == "done\n"
            wait_logged(cluster, "dispatcher1", "worker report recorded: succeeded", timeout=30)
        assert {name: cluster.stop(name) for name in ("worker0", "dispatcher1", "projector")} == {
            "worker0": 0,
            "dispatcher1": 0,
            "projector": 0,
        }
        assert cluster.stop("api") == 0


def test_a_sigkilled_workers_task_processes_die_with_it_before_the_run_is_recovered(
    tmp_path: Path,
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with redis_cluster(tmp_path) as cluster:
        start(cluster, workers=2, TMPDIR=str(tmp), SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="1")
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            # The shell forks: the task is a process group of a shell and its children.
            client.post("/api/tasks", json={"name": "long", "command": "echo go; sleep 60"})
            run_id = client.post("/api/tasks/long/trigger").json()["run_id"]
            first = wait_running(client, run_id)
            pgid = task_pgid(client, run_id)
            wait_until(lambda: len(live_members(pgid, 0)) == 2, 5, "sleep did not start")
            victim = worker_process_of(cluster, client, first["worker_id"])
            killed_at = time.monotonic()
            cluster.signal(victim, signal.SIGKILL)
            wait_until(lambda: live_members(pgid, 0) == [], 2, "a task outlived its worker")
            gone_after = time.monotonic() - killed_at
            # The lease (1 s heartbeats x 1.5) expires only later: the run starts again
            # elsewhere with nothing of its first attempt still running.
            second = wait_running(client, run_id, attempt=2)
            assert second["worker_id"] != first["worker_id"]
            assert live_members(pgid, 0) == []
        assert gone_after < 1.5, f"the task group took {gone_after:.2f} s to die"


def test_a_new_worker_kills_what_a_worker_killed_with_its_guard_left(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with redis_cluster(tmp_path) as cluster:
        start(cluster, workers=1, TMPDIR=str(tmp))
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            client.post("/api/tasks", json={"name": "left", "command": "echo go; sleep 60"})
            run_id = client.post("/api/tasks/left/trigger").json()["run_id"]
            wait_running(client, run_id)
            pgid = task_pgid(client, run_id)
            wait_until(lambda: len(live_members(pgid, 0)) == 2, 5, "sleep did not start")
            worker = cluster.processes["worker0"]
            guard = guard_of(worker.pid)
            cluster.signal("worker0", signal.SIGKILL)  # both at once, as an OOM kill might
            os.kill(guard, signal.SIGKILL)
            worker.wait()
            survivors = live_members(pgid, settle_seconds=0.5)
            assert survivors, "the shell's child should still run: nothing reaped it yet"
            cluster.start("worker1", "worker", TMPDIR=str(tmp))
            # The sweep is the new worker's first act once started; a busy machine may take
            # many seconds to get a Python process that far, so wait for its word first.
            wait_logged(
                cluster, "worker1", "task process groups left by dead worker process", timeout=60
            )
            assert live_members(pgid, settle_seconds=2) == [], "the new worker left them"


def guard_of(worker_pid: int) -> int:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == worker_pid and b"orphan_guard" in cmdline:
            return int(stat.parent.name)
    raise AssertionError(f"worker {worker_pid} has no guard")


def test_a_timed_out_run_keeps_its_output_tail_and_duration(scheduler: SchedulerProcess) -> None:
    # The module's shared `scheduler up` (this test and the next name their own tasks).
    with httpx.Client(base_url=scheduler.url, timeout=10) as client:
        body = {
            "name": "overrun",
            "command": "echo before the limit; sleep 30",
            "timeout_seconds": 1,
        }
        assert client.post("/api/tasks", json=body).status_code == 201
        run_id = client.post("/api/tasks/overrun/trigger").json()["run_id"]
        run = wait_for_run(client, run_id)
        assert run["status"] == "timed_out"
        assert run["output"] == "before the limit\n"
        assert 1.0 <= run["duration_seconds"] < 10
        [attempt] = run["attempts"]
        assert (attempt["status"], attempt["output"]) == ("timed_out", "before the limit\n")
        assert attempt["duration_seconds"] == pytest.approx(run["duration_seconds"], abs=1e-3)
        events = client.get(f"/api/runs/{run_id}/events").json()
        timed_out = next(e for e in events if e["type"] == "TaskRun.TimedOut")
        assert timed_out["payload"]["output"] == "before the limit\n"


def test_a_cancelled_run_keeps_its_output_tail_and_duration(scheduler: SchedulerProcess) -> None:
    with httpx.Client(base_url=scheduler.url, timeout=10) as client:
        body = {"name": "stopped", "command": "echo working; sleep 30"}
        assert client.post("/api/tasks", json=body).status_code == 201
        run_id = client.post("/api/tasks/stopped/trigger").json()["run_id"]
        wait_running(client, run_id)
        time.sleep(0.5)  # the echo has run
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200

        def reported() -> bool:
            return client.get(f"/api/runs/{run_id}").json()["output"] is not None

        wait_until(reported, 15, "the cancelled attempt's output never arrived")
        run = client.get(f"/api/runs/{run_id}").json()
        assert (run["status"], run["output"]) == ("cancelled", "working\n")
        assert 0.5 <= run["duration_seconds"] < 15
        [attempt] = run["attempts"]
        assert (attempt["status"], attempt["output"]) == ("cancelled", "working\n")
        assert attempt["duration_seconds"] == pytest.approx(run["duration_seconds"], abs=1e-3)
        types = [e["type"] for e in client.get(f"/api/runs/{run_id}/events").json()]
        assert types[-2:] == ["TaskRun.Cancelled", "TaskRun.AttemptReported"]
