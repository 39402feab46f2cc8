"""deploy/k8s: valid for Kubernetes, and every command, flag and variable is one the code reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from entrypoints.processes import check_api_security
from entrypoints.settings import Settings
from tests.deployment_files import (
    CONFIG,
    PROCESS_KINDS,
    SAMPLE_SECRETS,
    dockerfile_instruction,
    k8s_documents,
    k8s_objects,
    parse_cli,
    process_settings,
)
from tests.monitoring_files import scrape_jobs

# The oldest release we promise (still supported by the main clouds) and the newest known.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def deployment(kind: str) -> dict[str, Any]:
    return k8s_objects("Deployment")[f"scheduler-{kind}"]


def container(kind: str) -> dict[str, Any]:
    (only,) = deployment(kind)["spec"]["template"]["spec"]["containers"]
    return only


def environment(kind: str) -> dict[str, str]:
    """The container's variables, secrets and pod fields given sample values."""
    values = {}
    for variable in container(kind)["env"]:
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            assert source["secretKeyRef"]["name"] == "scheduler-secrets"
            values[variable["name"]] = SAMPLE_SECRETS[source["secretKeyRef"]["key"]]
        elif "fieldRef" in source:
            values[variable["name"]] = f"scheduler-{kind}-7d9f-abcde"
        else:
            values[variable["name"]] = variable["value"]
    return values


def settings(kind: str, tmp_path: Path) -> Settings:
    """What the process of the Deployment reads: its --config from the ConfigMap, its env."""
    context = parse_cli(container(kind)["args"])
    assert context.info_name == kind, "each Deployment runs its own process kind"
    (config,) = context.params["config"]  # --config may be repeated; these give one
    mount = next(m for m in container(kind)["volumeMounts"] if m["name"] == "config")
    assert config.parent.as_posix() == mount["mountPath"]
    text = k8s_objects("ConfigMap")["scheduler-config"]["data"][config.name]
    path = tmp_path / config.name
    path.write_text(text)
    return process_settings(environment(kind), path)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_a_valid_kubernetes_object(version: str) -> None:
    documents = k8s_documents()
    assert len(documents) >= 10
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def test_the_validation_refuses_an_unknown_field() -> None:
    broken = {**deployment("api"), "spec": {**deployment("api")["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("kind", PROCESS_KINDS)
def test_each_process_runs_a_cli_command_with_settings_it_accepts(
    kind: str, tmp_path: Path
) -> None:
    loaded = settings(kind, tmp_path)
    env = environment(kind)
    for name, value in env.items():
        if "__" in name:  # the variable reached its setting
            section, key = name.removeprefix("SCHEDULER_").lower().split("__")
            assert str(getattr(getattr(loaded, section), key)) == value, name
    assert loaded.message_queue.effective_url == SAMPLE_SECRETS["redis-url"]
    assert loaded.secrets.keys == SAMPLE_SECRETS["secret-key"]
    if kind == "worker":
        assert "SCHEDULER_DATABASE__URL" not in env, "workers get no database credentials"
    else:
        assert loaded.database.url == SAMPLE_SECRETS["database-url"]


def test_the_api_serves_its_port_and_probes_health(tmp_path: Path) -> None:
    loaded = settings("api", tmp_path)
    check_api_security(loaded)  # would refuse to start otherwise
    (port,) = container("api")["ports"]
    assert port["containerPort"] == loaded.api.port
    for probe in ("livenessProbe", "readinessProbe"):
        assert container("api")[probe]["httpGet"] == {"path": "/health", "port": port["name"]}
    service = k8s_objects("Service")["scheduler-api"]["spec"]
    assert service["ports"][0]["targetPort"] == port["name"]


@pytest.mark.parametrize("kind", ["projector", "dispatcher", "worker"])
def test_the_other_processes_probe_their_token_guarded_metrics_port(
    kind: str, tmp_path: Path
) -> None:
    loaded = settings(kind, tmp_path)
    assert loaded.observability.metrics_token, "beyond loopback the metrics port needs a token"
    (port,) = container(kind)["ports"]
    assert port["containerPort"] == loaded.observability.metrics_port
    for probe in ("livenessProbe", "readinessProbe"):
        assert container(kind)[probe]["tcpSocket"] == {"port": port["name"]}


def test_prometheus_finds_every_kind_by_a_headless_service() -> None:
    services = k8s_objects("Service")
    for kind, job in scrape_jobs().items():
        (sd,) = job["dns_sd_configs"]
        (name,) = sd["names"]
        spec = services[name]["spec"]
        assert spec["clusterIP"] == "None", f"{name}: one A record per pod"
        assert spec["selector"]["app.kubernetes.io/component"] == kind
        assert (
            spec["ports"][0]["port"] == sd["port"] == container(kind)["ports"][0]["containerPort"]
        )


def test_two_dispatchers_and_a_disruption_budget_for_every_replicated_deployment() -> None:
    assert deployment("dispatcher")["spec"]["replicas"] == 2
    budgets = [
        b["spec"]["selector"]["matchLabels"] for b in k8s_objects("PodDisruptionBudget").values()
    ]
    for name, item in k8s_objects("Deployment").items():
        if item["spec"]["replicas"] > 1:
            assert item["spec"]["selector"]["matchLabels"] in budgets, name


@pytest.mark.parametrize("kind", PROCESS_KINDS)
def test_every_pod_runs_as_the_images_non_root_user_with_resource_bounds(kind: str) -> None:
    pod = deployment(kind)["spec"]["template"]["spec"]
    user = dockerfile_instruction("USER").split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user != "0"
    assert container(kind)["securityContext"]["allowPrivilegeEscalation"] is False
    resources = container(kind)["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_the_configmap_is_deploy_scheduler_toml() -> None:
    data = k8s_objects("ConfigMap")["scheduler-config"]["data"]
    assert data == {"scheduler.toml": CONFIG.read_text()}
