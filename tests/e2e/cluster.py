"""A multi-process deployment for tests: API, projector, dispatchers and workers on real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.bus_factories import open_bus
from tests.e2e.conftest import SCHEDULER, STARTUP_SECONDS, base_env, free_port
from tests.servers import amqp_url, fresh_postgres_database, redis_url


@dataclass
class Cluster:
    """Separate `scheduler` processes sharing one PostgreSQL database and one bus."""

    workdir: Path
    database_url: str
    bus_env: dict[str, str]
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)  # env every process gets

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, name: str, with_database: bool = True) -> dict[str, str]:
        """The environment of one process (workers get no database settings at all)."""
        env = {
            **base_env(),
            **self.bus_env,
            "SCHEDULER_WORKER__HEARTBEAT_INTERVAL_SECONDS": "1",
            "SCHEDULER_DISPATCHER__REPUBLISH_AFTER_SECONDS": "2",
            "SCHEDULER_DISPATCHER__NAME": name,
            "SCHEDULER_WORKER__NAME": name,
            "SCHEDULER_WORKER__SHUTDOWN_GRACE_SECONDS": "5",
            "SCHEDULER_API__PORT": str(self.api_port),
        }
        if with_database:
            env["SCHEDULER_DATABASE__URL"] = self.database_url
        return {**env, **self.defaults}

    def start(self, name: str, command: str, **extra_env: str) -> subprocess.Popen[bytes]:
        """Start one process; its output goes to <workdir>/<name>.log."""
        env = {**self.env(name, with_database=command != "worker"), **extra_env}
        with (self.workdir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [str(SCHEDULER), command],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def start_api(self) -> None:
        """Start the API and wait for /health."""
        self.start("api", "api")
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"api did not start:\n{self.log('api')}")

    def wait_for_workers(self, count: int, timeout: float = STARTUP_SECONDS) -> list[dict]:
        """Wait until `count` workers are active in the read model."""
        deadline = time.monotonic() + timeout
        workers: list[dict] = []
        while time.monotonic() < deadline:
            workers = httpx.get(f"{self.url}/api/workers", params={"status": "active"}).json()
            if len(workers) >= count:
                return workers
            time.sleep(0.1)
        raise AssertionError(f"only {len(workers)} workers active: {self.logs()}")

    def signal(self, name: str, signum: int) -> None:
        """Send a signal to one process."""
        os.kill(self.processes[name].pid, signum)

    def stop(self, name: str, timeout: float = 20.0) -> int:
        """SIGTERM one process and wait for it; returns its exit code."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log(self, name: str, lines: int = 40) -> str:
        """The end of one process's output."""
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def logs(self) -> str:
        """The end of every process's output."""
        return "\n".join(f"--- {n}\n{self.log(n, 15)}" for n in self.processes)

    def stop_all(self) -> None:
        """Stop every process, workers first: all workers together, then all the others.

        Each process takes about 2 s to exit after SIGTERM, nearly all of it waiting; one
        after the other, a cluster took 10 s or more to stop.
        """
        workers = [n for n in self.processes if n.startswith("worker")]
        others = [n for n in self.processes if n not in workers]
        for group in (workers, others):
            if group:
                with ThreadPoolExecutor(len(group)) as pool:
                    list(pool.map(self.stop, group))


@contextmanager
def bus_cluster(workdir: Path, kind: str) -> Iterator[Cluster]:
    """A cluster on a fresh PostgreSQL database and a bus of `kind` under a fresh prefix.

    The bus is opened (and its streams or queues removed afterwards) by the same factory
    the bus contract tests use, so an absent server fails under CI and skips locally.
    """
    urls = {"redis": redis_url, "rabbitmq": amqp_url}
    with open_bus(kind) as bus:
        bus_env = {
            "SCHEDULER_MESSAGE_QUEUE__TYPE": kind,
            "SCHEDULER_MESSAGE_QUEUE__URL": urls[kind](),
            "SCHEDULER_MESSAGE_QUEUE__PREFIX": bus.prefix,
        }
        with fresh_postgres_database() as url:
            cluster = Cluster(workdir=workdir, database_url=url, bus_env=bus_env)
            try:
                yield cluster
            finally:
                cluster.stop_all()


def redis_cluster(workdir: Path) -> AbstractContextManager[Cluster]:
    """A cluster on PostgreSQL and Redis Streams."""
    return bus_cluster(workdir, "redis")


def rabbitmq_cluster(workdir: Path) -> AbstractContextManager[Cluster]:
    """A cluster on PostgreSQL and RabbitMQ."""
    return bus_cluster(workdir, "rabbitmq")


def wait_until(predicate, timeout: float, message: str) -> None:
    """Poll `predicate` until it is true or fail with `message`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(message)
