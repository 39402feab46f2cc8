"""Each process kind imports only what it uses: a worker no database driver, web framework or
projection; a dispatcher or projector no web framework."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What `scheduler worker` does before its loop: the CLI, its process module, a bus, an agent.
WORKER_START = """
import json, sys
from entrypoints.cli import main
from entrypoints.process_worker import run_worker
from entrypoints.bus_factory import build_bus
from entrypoints.settings import load_settings
from entrypoints.worker_assembly import make_worker, worker_metrics
from application.circuit_breaker import BreakerRegistry

main.get_command(None, "worker")
settings = load_settings(None, {"SCHEDULER_MESSAGE_QUEUE__TYPE": sys.argv[1]})
agent = make_worker(settings, build_bus(settings))
worker_metrics(agent, BreakerRegistry())
print(json.dumps(sorted(sys.modules)))
"""

# Packages (and their submodules) a worker has no use for. The domain's aggregates, which
# its messages name, need eventsourcing's domain module but not its stores.
NOT_FOR_A_WORKER = (
    "psycopg",
    "sqlite3",
    "eventsourcing.application",
    "eventsourcing.persistence",
    "eventsourcing.postgres",
    "fastapi",
    "starlette",
    "uvicorn",
    "jwt",
    "httpx",
    "projections.base",
    "projections.queries",
    "entrypoints.bootstrap",
    "entrypoints.api",
    "application.commands",
)


def _unwanted(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_A_WORKER)]


def _modules_of_a_worker(bus: str) -> list[str]:
    answer = subprocess.run(
        [sys.executable, "-c", WORKER_START, bus],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(answer.stdout))


def test_a_redis_worker_starts_without_the_database_or_web_stack() -> None:
    modules = _modules_of_a_worker("redis")
    assert "adapters.redis_bus" in modules and "application.worker_agent" in modules
    assert "aio_pika" not in modules, "only the configured bus is imported"
    assert _unwanted(modules) == []


def test_a_rabbitmq_worker_imports_its_driver_and_not_redis_bus() -> None:
    modules = _modules_of_a_worker("rabbitmq")
    assert "adapters.rabbitmq_bus" in modules
    assert "adapters.redis_bus" not in modules
    assert _unwanted(modules) == []


# What `scheduler dispatcher` and `scheduler projector` import before they open a store.
BACKEND_START = """
import json, sys
from entrypoints.cli import main
from entrypoints.process_dispatcher import run_dispatcher
from entrypoints.process_projector import run_projector
from entrypoints.bootstrap import build_container, make_dispatcher
import application.dispatch.dispatcher

main.get_command(None, "dispatcher")
print(json.dumps(sorted(sys.modules)))
"""

NOT_FOR_A_BACKEND = ("fastapi", "starlette", "uvicorn", "jwt", "jinja2", "entrypoints.api")


def test_a_dispatcher_or_projector_starts_without_the_web_stack() -> None:
    answer = subprocess.run(
        [sys.executable, "-c", BACKEND_START],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    modules = json.loads(answer.stdout)
    assert "psycopg" in modules and "projections.catalog" in modules
    web = [m for m in modules if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_A_BACKEND)]
    assert web == []
