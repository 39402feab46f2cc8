"""What monitoring/ asks of the processes: scrape jobs and the metric names of every query."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.servers import server_missing

MONITORING = Path(__file__).resolve().parents[1] / "monitoring"
PROMETHEUS = MONITORING / "prometheus.yml"
ALERTS = MONITORING / "alerts.yml"
DASHBOARDS = MONITORING / "grafana" / "dashboards"
# Every metric of ours is prefixed (adapters/metrics.py); `up` is Prometheus's own.
_METRIC = re.compile(r"\bscheduler_[a-z0-9_]+\b")


def alert_expressions() -> dict[str, str]:
    """Each alert's PromQL, by alert name."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    """Each dashboard query's PromQL, by `<dashboard>/<panel title>/<refId>`."""
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found[f"{path.stem}/{panel['title']}/{target['refId']}"] = target["expr"]
    return found


def metric_names(expressions: dict[str, str]) -> set[str]:
    """The scheduler_* series the expressions read."""
    return {name for expr in expressions.values() for name in _METRIC.findall(expr)}


def scrape_jobs() -> dict[str, dict]:
    """prometheus.yml's scrape configs by the `process` label they give their targets."""
    jobs = {}
    for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]:
        relabel = job["relabel_configs"]
        labels = [r["replacement"] for r in relabel if r["target_label"] == "process"]
        jobs[labels[0]] = job
    return jobs


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool (Debian `prometheus`); skipped locally when absent, a failure under CI."""
    binary = shutil.which("promtool")
    if binary is None:
        server_missing("promtool", FileNotFoundError("install the Debian package prometheus"))
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=60, check=False
    )
