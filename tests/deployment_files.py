"""Reading deploy/, docker-compose*.yml and the Dockerfile as the scheduler would run them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from entrypoints.cli import main
from entrypoints.config_loading import CONFIG_ENV, SECRET_KEY_ENV
from entrypoints.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
CONFIG = ROOT / "deploy" / "scheduler.toml"
PROCESS_KINDS = ("api", "projector", "dispatcher", "worker")
# The values a deployment's secrets hold, for loading its settings in a test.
SAMPLE_SECRETS = {
    "database-url": "postgresql://scheduler:pw@postgres:5432/scheduler",
    "redis-url": "redis://redis:6379/0",
    "jwt-secret": "j" * 48,
    "secret-key": "c2NoZWR1bGVyLWRlcGxveS10ZXN0LWtleS0zMmJ5dGU=",
    "metrics-token": "metrics-token-for-the-test",
}
_COMPOSE_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def k8s_documents() -> list[dict[str, Any]]:
    """Every object of every manifest in deploy/k8s."""
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


def k8s_objects(kind: str) -> dict[str, dict[str, Any]]:
    """The manifests' objects of one kind, by name."""
    return {d["metadata"]["name"]: d for d in k8s_documents() if d["kind"] == kind}


def parse_cli(args: Sequence[str]) -> click.Context:
    """Parse `scheduler ARGS` as the CLI would; UsageError for an unknown command or flag."""
    name, *rest = args
    with click.Context(main) as parent:
        command = main.get_command(parent, name)
        if command is None:
            raise click.UsageError(f"no command {name!r}")
        return command.make_context(name, list(rest), parent=parent)


def process_settings(environ: Mapping[str, str], config: Path | None) -> Settings:
    """The settings a process gets from this environment and config file.

    Raises:
        AssertionError: a SCHEDULER_* variable that the settings would ignore.
    """
    for name in environ:
        known = "__" in name or name in (SECRET_KEY_ENV, CONFIG_ENV)
        assert not name.startswith("SCHEDULER_") or known, f"{name} is read by nothing"
    return load_settings(config, environ)


def compose_interpolate(value: Any, environ: Mapping[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ over a loaded file."""
    if isinstance(value, dict):
        return {k: compose_interpolate(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [compose_interpolate(v, environ) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        given = environ.get(name)
        missing = given is None or (given == "" and operator and operator.startswith(":"))
        if missing and operator and operator.endswith("?"):
            raise KeyError(f"{name}: {argument}")
        return argument if missing and operator else (given or "")

    return _COMPOSE_VARIABLE.sub(replace, value)


def dockerfile_env() -> dict[str, str]:
    """The ENV the image sets (KEY=VALUE pairs)."""
    found: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            found.update(pair.split("=", 1) for pair in line[4:].split())
    return found


def dockerfile_instruction(name: str) -> str:
    """The text of the image's (last) instruction NAME, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.startswith(f"{name} ")]
    assert lines, f"the Dockerfile has no {name}"
    return lines[-1][len(name) + 1 :]
