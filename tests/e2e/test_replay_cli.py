"""`scheduler replay` and `scheduler events tail` against a running scheduler's own log."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import SCHEDULER, SchedulerProcess, base_env


def cli(proc: SchedulerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCHEDULER), *args],
        cwd=proc.workdir,
        env=proc.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_replay_prints_history_and_the_state_at_a_version(
    fresh_scheduler: SchedulerProcess,
) -> None:
    with httpx.Client(base_url=fresh_scheduler.url, timeout=10) as client:
        client.post("/api/tasks", json={"name": "nightly", "command": "echo v1"})
        client.patch("/api/tasks/nightly", json={"command": "echo v2"}, headers={"X-Actor": "al"})
    text = cli(fresh_scheduler, "replay", "task", "nightly")
    assert text.returncode == 0, text.stderr
    assert (
        "Task.Created" in text.stdout
        and "Task.Updated" in text.stdout
        and "by anonymous@loopback" in text.stdout
    )
    assert "state at version 2 of 2" in text.stdout
    old = cli(fresh_scheduler, "replay", "task", "1", "--version", "1", "--json")
    document = json.loads(old.stdout)
    assert document["state"]["command"] == "echo v1" and len(document["history"]) == 1
    bad = cli(fresh_scheduler, "replay", "run", "not-a-uuid")
    assert bad.returncode != 0 and "UUID" in bad.stderr
    missing = cli(fresh_scheduler, "replay", "task", "nope")
    assert missing.returncode != 0 and "no task 'nope'" in missing.stderr
    future = cli(fresh_scheduler, "replay", "task", "nightly", "--version", "5")
    assert future.returncode != 0 and "versions 1 to 2" in future.stderr


def test_events_tail_filters_by_type_and_follows_new_events(
    fresh_scheduler: SchedulerProcess,
) -> None:
    with httpx.Client(base_url=fresh_scheduler.url, timeout=10) as client:
        first = client.post("/api/tasks", json={"name": "first", "command": "true"})
        seen = first.headers["X-Log-Position"]
        tail = cli(fresh_scheduler, "events", "tail", "--type", "Task", "--last", "100")
        assert tail.returncode == 0, tail.stderr
        types = [json.loads(line)["type"] for line in tail.stdout.splitlines()]
        assert types == ["Task.Created"]
        follower = subprocess.Popen(
            # After the position already seen, not "from now": however slowly it starts, the
            # follower then cannot begin past the event it waits for.
            [str(SCHEDULER), "events", "tail", "--follow", "--after", seen, "--type", "Task"],
            cwd=fresh_scheduler.workdir,
            env=fresh_scheduler.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            client.post("/api/tasks", json={"name": "second", "command": "true"})
            assert follower.stdout is not None
            line = json.loads(follower.stdout.readline())
            assert (line["type"], line["payload"]["spec"]["name"]) == ("Task.Created", "second")
        finally:
            follower.send_signal(signal.SIGTERM)
            code = follower.wait(timeout=10)
            if follower.stdout is not None:
                follower.stdout.close()
        assert code == 0, "SIGTERM ends a follow cleanly"


def lines(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_events_tail_finds_a_type_anywhere_in_the_log_not_only_in_the_last_20_events(
    fresh_scheduler: SchedulerProcess,
) -> None:
    with httpx.Client(base_url=fresh_scheduler.url, timeout=10) as client:
        for name in ("alpha", "beta", "gamma"):
            assert client.post("/api/tasks", json={"name": name, "command": "true"}).is_success
        for edit in range(25):  # 25 newer events of another type bury the three creations
            changed = client.patch("/api/tasks/gamma", json={"description": f"edit {edit}"})
            assert changed.status_code == 200, changed.text
        head = client.get("/api/events", params={"limit": 1}).json()["head"]

    names = lines(cli(fresh_scheduler, "events", "tail", "--type", "TaskName"))
    assert [(e["type"], e["payload"]["name"]) for e in names] == [
        ("TaskName.Created", "alpha"),
        ("TaskName.Created", "beta"),
        ("TaskName.Created", "gamma"),
    ]
    assert all(e["position"] < head - 20 for e in names), "older than the last 20 events"

    newest = lines(cli(fresh_scheduler, "events", "tail", "--type", "Task.Created", "--last", "2"))
    assert [e["payload"]["spec"]["name"] for e in newest] == ["beta", "gamma"]

    after = lines(
        cli(
            fresh_scheduler,
            "events",
            "tail",
            "--type",
            "TaskName",
            "--after",
            str(names[0]["position"]),
        )
    )
    assert [e["payload"]["name"] for e in after] == ["beta", "gamma"]

    untyped = lines(cli(fresh_scheduler, "events", "tail", "--last", "5"))
    assert [e["position"] for e in untyped] == list(range(head - 4, head + 1))
    assert {e["type"] for e in untyped} == {"Task.Updated"}

    typo = cli(fresh_scheduler, "events", "tail", "--type", "Tsk")
    assert typo.returncode == 2 and "no event type 'Tsk'" in typo.stderr, typo.stderr
    both = cli(fresh_scheduler, "events", "tail", "--last", "3", "--after", "1")
    assert both.returncode == 2 and "--last and --after exclude each other" in both.stderr


def test_a_running_scheduler_chains_its_events_for_audit_verify(
    fresh_scheduler: SchedulerProcess,
) -> None:
    with httpx.Client(base_url=fresh_scheduler.url, timeout=10) as client:
        client.post("/api/tasks", json={"name": "chained", "command": "true"})
        head = client.get("/api/events", params={"limit": 1}).json()["head"]
    deadline = time.monotonic() + 15
    while True:  # the projector's follower chains new events within a poll interval
        checked = cli(fresh_scheduler, "audit", "verify", "--no-extend")
        if "not chained" not in checked.stdout + checked.stderr:
            break
        assert time.monotonic() < deadline, checked.stdout + checked.stderr
        time.sleep(0.3)
    assert checked.returncode == 0, checked.stderr
    verified = re.search(r"verified (\d+) events .*up to position (\d+)", checked.stdout)
    assert verified is not None, checked.stdout
    assert int(verified.group(1)) >= head and int(verified.group(2)) >= head


def test_replay_on_an_empty_database_says_there_is_no_such_task(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCHEDULER), "replay", "task", "nightly"],
        cwd=tmp_path,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "no task 'nightly'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
