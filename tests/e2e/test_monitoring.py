"""Every metric monitoring/ reads is exported by a running distributed deployment."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cluster import Cluster, redis_cluster, wait_until
from tests.e2e.conftest import free_port, wait_for_run
from tests.monitoring_files import (
    alert_expressions,
    dashboard_expressions,
    metric_names,
    scrape_jobs,
)

TOKEN = "monitoring-test-token-0123456789"


def exported_names(text: str) -> set[str]:
    """Family and sample names of one scrape (a histogram's _bucket, a counter's _total)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def start_deployment(cluster: Cluster) -> dict[str, str]:
    """api, projector, dispatcher and worker, each with its /metrics; their URLs by kind."""
    cluster.defaults["SCHEDULER_OBSERVABILITY__METRICS_TOKEN"] = TOKEN
    urls = {"api": f"{cluster.url}/metrics"}
    cluster.start_api()
    for kind in ("projector", "dispatcher", "worker"):
        port = free_port()
        cluster.start(kind, kind, SCHEDULER_OBSERVABILITY__METRICS_PORT=str(port))
        urls[kind] = f"http://127.0.0.1:{port}/metrics"
    cluster.wait_for_workers(1)
    return urls


def drive_runs(client: httpx.Client) -> None:
    """One run that succeeds, one that fails, one refused credential."""
    for name, command in (("monitored-ok", "true"), ("monitored-bad", "exit 3")):
        assert client.post("/api/tasks", json={"name": name, "command": command}).status_code == 201
        run = wait_for_run(client, client.post(f"/api/tasks/{name}/trigger").json()["run_id"])
        assert run["status"] in ("succeeded", "failed"), run
    refused = client.get("/api/tasks", headers={"Authorization": "Bearer not-a-key"})
    assert refused.status_code == 401


def scrape(url: str) -> str:
    """A scrape as prometheus.yml makes it: GET metrics_path with the bearer token."""
    answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:200])
    return answer.text


def test_every_metric_of_the_alerts_and_the_dashboard_is_exported(tmp_path: Path) -> None:
    used = metric_names(alert_expressions()) | metric_names(dashboard_expressions())
    with redis_cluster(tmp_path) as cluster:
        urls = start_deployment(cluster)
        assert set(urls) == set(scrape_jobs()), "the test scrapes what prometheus.yml scrapes"
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            drive_runs(client)
        exported: set[str] = set()

        def all_seen() -> bool:
            exported.update(*(exported_names(scrape(url)) for url in urls.values()))
            return used <= exported

        wait_until(all_seen, 20, f"not exported: {sorted(used - exported)}\n{cluster.logs()}")
        # The API lets the test's loopback callers in anonymously (tests/e2e/test_auth.py
        # covers its /metrics); the metrics ports ask for the token from anyone.
        for kind in ("projector", "dispatcher", "worker"):
            anonymous = httpx.get(urls[kind], timeout=10)
            assert anonymous.status_code == 401, f"{kind} serves /metrics without the token"
    assert len(used) >= 15
