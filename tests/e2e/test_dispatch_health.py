"""A dead or stuck dispatcher shows in /health as `degraded`, not behind a 200."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import redis_cluster, wait_until

pytestmark = pytest.mark.e2e


def dispatch(client: httpx.Client) -> tuple[int, dict]:
    health = client.get("/health")
    return health.status_code, health.json()["checks"]["dispatch"]


def test_a_stuck_then_killed_dispatcher_makes_health_degraded(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        cluster.defaults["SCHEDULER_DISPATCHER__STALE_AFTER_SECONDS"] = "3"
        cluster.start_api()
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            code, check = dispatch(client)
            assert code == 503 and check["reason"] == "no dispatcher has ever beaten"
            cluster.start("projector", "projector")
            cluster.start("dispatcher", "dispatcher")
            wait_until(lambda: dispatch(client)[0] == 200, 30, "the dispatcher never beat")
            wait_until(
                lambda: dispatch(client)[1]["dispatchers"][0]["status"] == "running",
                10,
                "it never finished a round",
            )
            cluster.signal("dispatcher", signal.SIGSTOP)  # stuck: alive, but no rounds
            stopped = time.monotonic()
            wait_until(lambda: dispatch(client)[0] == 503, 15, "a stuck dispatcher looked fine")
            assert time.monotonic() - stopped < 10
            code, check = dispatch(client)
            assert "dispatcher stale" in check["reason"], check
            cluster.signal("dispatcher", signal.SIGCONT)
            wait_until(lambda: dispatch(client)[0] == 200, 15, "it did not come back")
            cluster.signal("dispatcher", signal.SIGKILL)  # dead
            wait_until(lambda: dispatch(client)[0] == 503, 15, "a dead dispatcher looked fine")
            cluster.processes["dispatcher"].wait(5)
            cluster.start("dispatcher2", "dispatcher")  # a replacement brings it back
            wait_until(lambda: dispatch(client)[0] == 200, 30, "the replacement never beat")
            wait_until(
                lambda: (
                    {d["name"]: d["status"] for d in dispatch(client)[1]["dispatchers"]}
                    == {"dispatcher": "stale", "dispatcher2": "running"}
                ),
                10,
                "the replacement never finished a round",
            )
            cluster.stop("dispatcher2")  # a clean stop says so
            wait_until(
                lambda: (
                    {d["status"] for d in dispatch(client)[1]["dispatchers"]}
                    == {"stale", "stopped"}
                ),
                15,
                "the stop was not recorded",
            )
            assert dispatch(client)[0] == 503
