"""monitoring/ is valid for Prometheus and covers every process kind."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.monitoring_files import (
    ALERTS,
    PROMETHEUS,
    alert_expressions,
    dashboard_expressions,
    metric_names,
    promtool,
    scrape_jobs,
)

PROCESS_KINDS = {"api", "projector", "dispatcher", "worker"}


def test_the_alert_rules_pass_promtool() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scrape_config_passes_promtool() -> None:
    # --syntax-only: the token file exists only where Prometheus runs (a mounted secret);
    # the rule files it names are checked apart, above and below.
    result = promtool("check", "config", "--syntax-only", str(PROMETHEUS))
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = yaml.safe_load(PROMETHEUS.read_text())["rule_files"]
    assert [PROMETHEUS.parent / name for name in rule_files] == [ALERTS]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_expressions()
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(queries.values())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rules) >= 10


def test_every_process_kind_is_scraped_with_the_metrics_token() -> None:
    jobs = scrape_jobs()
    assert set(jobs) == PROCESS_KINDS
    for kind, job in jobs.items():
        assert job["metrics_path"] == "/metrics", kind
        assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token", kind


def test_the_alerts_include_the_seeds_rule_and_page_on_the_failures_operators_watch() -> None:
    alerts = alert_expressions()
    assert "HighTaskFailureRate" in alerts
    assert "scheduler_run_duration_seconds_count" in alerts["HighTaskFailureRate"]
    watched = {
        "SchedulerDispatcherDown": "scheduler_dispatchers",
        "SchedulerProjectionLagging": "scheduler_projection_lag_events",
        "SchedulerQuarantineNotEmpty": "scheduler_quarantined_aggregates",
        "SchedulerWorkerLost": "scheduler_workers",
        "SchedulerMisfires": "scheduler_task_last_misfire_timestamp_seconds",
        "SchedulerAuthDenials": "scheduler_auth_denied_total",
    }
    for alert, metric in watched.items():
        assert metric in metric_names({alert: alerts[alert]}), alert
