"""docker-compose.yml and docker-compose.dev.yml: commands, flags and variables the code reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from entrypoints.processes import check_api_security
from entrypoints.settings import Settings
from tests.deployment_files import (
    PROCESS_KINDS,
    ROOT,
    compose_interpolate,
    dockerfile_env,
    dockerfile_instruction,
    parse_cli,
    process_settings,
)
from tests.monitoring_files import PROMETHEUS, scrape_jobs

ENVIRON = {"METRICS_TOKEN": "metrics-token-for-the-test", "POSTGRES_PASSWORD": "pw"}
IMAGE_DIRECTORY = Path("/app")  # the Dockerfile's WORKDIR, where relative paths start


def compose(name: str) -> dict[str, Any]:
    """A compose file as compose reads it: merge keys resolved, variables substituted."""
    return compose_interpolate(yaml.safe_load((ROOT / name).read_text()), ENVIRON)


def service_settings(service: dict[str, Any]) -> tuple[str, Settings]:
    """The process kind a scheduler service runs, and the settings it reads in its container."""
    context = parse_cli(service["command"])
    (config,) = context.params["config"]  # --config may be repeated; these give one
    mounts = dict(reversed(v.split(":")[:2]) for v in service.get("volumes", []))
    if config.as_posix() in mounts:
        host_file = ROOT / mounts[config.as_posix()]
    else:  # a file of the image: the repository's, copied to /app
        host_file = ROOT / (IMAGE_DIRECTORY / config).relative_to(IMAGE_DIRECTORY)
    assert host_file.is_file(), f"{service['command']}: no {host_file}"
    environ = {**dockerfile_env(), **service.get("environment", {})}
    return str(context.info_name), process_settings(environ, host_file)


def scheduler_services(name: str) -> dict[str, dict[str, Any]]:
    services = compose(name)["services"]
    return {n: s for n, s in services.items() if s.get("build") == "."}


def test_the_distributed_compose_runs_every_process_kind_on_postgres_and_redis() -> None:
    services = compose("docker-compose.yml")["services"]
    assert {"postgres", "redis", *PROCESS_KINDS} <= set(services)
    kinds = {}
    for name, service in scheduler_services("docker-compose.yml").items():
        kind, settings = service_settings(service)
        kinds[name] = kind
        assert settings.message_queue.type == "redis"
        assert settings.message_queue.effective_url == "redis://redis:6379/0"
        if kind == "worker":
            assert "SCHEDULER_DATABASE__URL" not in service["environment"]
        else:
            assert settings.database.url == "postgresql://scheduler:pw@postgres:5432/scheduler"
        if kind == "api":
            check_api_security(settings)
        assert settings.observability.metrics_token == ENVIRON["METRICS_TOKEN"]
        for server in ("postgres", "redis"):
            assert service["depends_on"][server] == {"condition": "service_healthy"}, name
    assert kinds == {kind: kind for kind in PROCESS_KINDS}
    assert services["worker"]["deploy"]["replicas"] == 2


def test_every_service_has_a_health_check() -> None:
    services = compose("docker-compose.yml")["services"]
    for server in ("postgres", "redis"):
        assert services[server]["healthcheck"]["test"], server
    health = dockerfile_instruction("HEALTHCHECK")
    for name, service in scheduler_services("docker-compose.yml").items():
        kind, settings = service_settings(service)
        if kind == "api":  # the image's own, on /health of the API port
            assert "healthcheck" not in service
            assert f"127.0.0.1:{settings.api.port}/health" in health
        else:
            test = " ".join(service["healthcheck"]["test"])
            assert f"('127.0.0.1', {settings.observability.metrics_port})" in test, name


def test_prometheus_finds_every_kind_by_its_network_alias_and_reads_the_token() -> None:
    services = compose("docker-compose.yml")["services"]
    (secret,) = services["prometheus"]["secrets"]  # compose mounts it at /run/secrets/<name>
    for kind, job in scrape_jobs().items():
        (sd,) = job["dns_sd_configs"]
        assert services[kind]["networks"]["default"]["aliases"] == sd["names"], kind
        _, settings = service_settings(services[kind])
        served = settings.api.port if kind == "api" else settings.observability.metrics_port
        assert sd["port"] == served, kind
        assert job["authorization"]["credentials_file"] == f"/run/secrets/{secret}"
    prometheus = services["prometheus"]
    assert f"./{PROMETHEUS.parent.name}:/etc/prometheus:ro" in prometheus["volumes"]
    assert compose("docker-compose.yml")["secrets"][secret] == {"environment": "METRICS_TOKEN"}


def test_the_distributed_compose_needs_the_metrics_token() -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    with pytest.raises(KeyError, match="METRICS_TOKEN"):
        compose_interpolate(raw, {})


def test_the_dev_compose_runs_scheduler_up_on_postgres() -> None:
    (service,) = scheduler_services("docker-compose.dev.yml").values()
    kind, settings = service_settings(service)
    assert kind == "up"
    assert settings.database_kind == "postgres"
    check_api_security(settings)


def test_the_image_runs_as_a_user_of_its_own() -> None:
    user = dockerfile_instruction("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert dockerfile_instruction("ENTRYPOINT") == '["scheduler"]'
    assert parse_cli(yaml.safe_load(dockerfile_instruction("CMD"))).info_name == "up"
