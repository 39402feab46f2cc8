"""TLS and credentials to the bus and the database, on servers started here with TLS on.

Redis: a redis-server of the test's own with a TLS port and an ACL user. PostgreSQL: a
private server (tests/private_postgres.py) with ssl on. RabbitMQ is not started with TLS
here (it needs a broker configuration of its own): its TLS context is tested without one.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from adapters.tls import TlsFiles
from application.messages import Delivery
from entrypoints.api.app import create_api
from entrypoints.bootstrap import build_container, postgres_conninfo
from entrypoints.bus_factory import build_bus
from entrypoints.process_support import StartupError, open_container
from entrypoints.settings import load_settings
from tests.e2e.conftest import SCHEDULER, base_env, free_port
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.servers import server_missing
from tests.tls_certs import CertificateFiles, make_certificates

PASSWORD = "hunter2-tls-secret"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@dataclass
class TlsRedis:
    port: int

    def url(self, password: str = PASSWORD, host: str = "localhost") -> str:
        return f"rediss://sched:{password}@{host}:{self.port}/0"


@pytest.fixture(scope="module")
def tls_redis(
    certificates: CertificateFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsRedis]:
    if shutil.which("redis-server") is None:
        server_missing("redis-server (to start one with TLS)", RuntimeError("not installed"))
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port", "0",
            "--tls-port", str(port),
            "--bind", "127.0.0.1", "127.0.0.2",
            "--tls-cert-file", str(certificates.server_cert),
            "--tls-key-file", str(certificates.server_key),
            "--tls-ca-cert-file", str(certificates.ca),
            "--tls-auth-clients", "no",
            "--save", "", "--appendonly", "no", "--dir", str(folder),
            "--user", "default", "off",
            "--user", "sched", "on", f">{PASSWORD}", "~*", "&*", "+@all",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        client = redis.Redis(
            host="localhost",
            port=port,
            username="sched",
            password=PASSWORD,
            ssl=True,
            ssl_ca_certs=str(certificates.ca),
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    server_missing("redis-server with TLS", RuntimeError(output[-2000:]))
                time.sleep(0.05)
        client.close()
        yield TlsRedis(port)
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def redis_settings(url: str, ca: Path | None, prefix: str = "tls") -> dict[str, str]:
    env = {
        "SCHEDULER_MESSAGE_QUEUE__TYPE": "redis",
        "SCHEDULER_MESSAGE_QUEUE__URL": url,
        "SCHEDULER_MESSAGE_QUEUE__PREFIX": f"{prefix}-{uuid.uuid4().hex[:8]}",
    }
    if ca is not None:
        env["SCHEDULER_MESSAGE_QUEUE__TLS_CA_FILE"] = str(ca)
    return env


def test_the_bus_talks_to_redis_over_tls_as_an_acl_user(
    tls_redis: TlsRedis, certificates: CertificateFiles
) -> None:
    settings = load_settings(None, redis_settings(tls_redis.url(), certificates.ca))
    assert settings.message_queue.uses_tls
    bus = build_bus(settings)
    try:
        bus.ping()
        worker = uuid.uuid4()
        delivery = Delivery(uuid.uuid4(), 1, worker, "t", "shell", "true")
        bus.publish_delivery(delivery)
        assert bus.receive_inbox(worker, 10, 1.0) == [delivery]
    finally:
        bus.close()


def test_the_password_given_apart_from_the_url_is_used(
    tls_redis: TlsRedis, certificates: CertificateFiles
) -> None:
    env = redis_settings(f"rediss://localhost:{tls_redis.port}/0", certificates.ca)
    env |= {
        "SCHEDULER_MESSAGE_QUEUE__USERNAME": "sched",
        "SCHEDULER_MESSAGE_QUEUE__PASSWORD": PASSWORD,
    }
    bus = build_bus(load_settings(None, env))
    try:
        bus.ping()
    finally:
        bus.close()


def test_a_broker_certificate_from_another_ca_is_refused(
    tls_redis: TlsRedis, certificates: CertificateFiles
) -> None:
    bus = build_bus(load_settings(None, redis_settings(tls_redis.url(), certificates.other_ca)))
    try:
        with pytest.raises(redis.ConnectionError) as caught:
            bus.ping()
    finally:
        bus.close()
    assert "certificate verify failed" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_a_name_the_certificate_does_not_cover_is_refused(
    tls_redis: TlsRedis, certificates: CertificateFiles
) -> None:
    url = tls_redis.url(host="127.0.0.2")  # the certificate names localhost and 127.0.0.1
    bus = build_bus(load_settings(None, redis_settings(url, certificates.ca)))
    try:
        with pytest.raises(redis.ConnectionError, match=r"certificate|match|hostname"):
            bus.ping()
    finally:
        bus.close()


def test_a_worker_with_a_wrong_password_fails_to_start_without_printing_it(
    tls_redis: TlsRedis, certificates: CertificateFiles, tmp_path: Path
) -> None:
    wrong = "wrong-pass-" + uuid.uuid4().hex[:6]
    env = {**base_env(), **redis_settings(tls_redis.url(password=wrong), certificates.ca)}
    done = subprocess.run(
        [str(SCHEDULER), "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "cannot reach the message queue" in done.stderr
    assert "invalid username-password pair" in done.stderr
    assert wrong not in done.stderr + done.stdout


def test_a_worker_whose_broker_is_not_trusted_fails_to_start_saying_so(
    tls_redis: TlsRedis, certificates: CertificateFiles, tmp_path: Path
) -> None:
    env = {**base_env(), **redis_settings(tls_redis.url(), certificates.other_ca)}
    done = subprocess.run(
        [str(SCHEDULER), "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "certificate verify failed" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


def test_the_rabbitmq_tls_context_verifies_against_the_given_ca(
    certificates: CertificateFiles,
) -> None:
    context = TlsFiles(ca_file=str(certificates.ca)).context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(c["subject"] == ((("commonName", "ca"),),) for c in context.get_ca_certs())
    with pytest.raises(FileNotFoundError):
        TlsFiles(ca_file=str(certificates.ca.with_name("missing.pem"))).context()


@pytest.fixture(scope="module")
def tls_postgres(certificates: CertificateFiles) -> Iterator[PrivatePostgres]:
    # Outside pytest's temporary folders, which only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="sched-pg-certs-", dir="/tmp"))
    folder.chmod(0o755)
    for source in (certificates.server_cert, certificates.server_key):
        target = folder / source.name
        shutil.copy(source, target)
        shutil.chown(target, "postgres", "postgres")
        target.chmod(0o600)
    options = (
        f"-c ssl=on -c ssl_cert_file={folder / 'server.pem'} "
        f"-c ssl_key_file={folder / 'server.key'}"
    )
    try:
        with private_postgres(free_port(), options) as server:
            admin = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f"CREATE ROLE sched LOGIN PASSWORD '{PASSWORD}'")
                connection.execute("ALTER DATABASE scheduler OWNER TO sched")
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_every_connection_of_a_process_uses_tls_with_verify_full(
    tls_postgres: PrivatePostgres, certificates: CertificateFiles
) -> None:
    url = f"postgresql://sched:{PASSWORD}@localhost:{tls_postgres.port}/scheduler"
    settings = load_settings(
        None,
        {
            "SCHEDULER_DATABASE__URL": url,
            "SCHEDULER_DATABASE__SSLMODE": "verify-full",
            "SCHEDULER_DATABASE__SSLROOTCERT": str(certificates.ca),
        },
    )
    container = build_container(settings)
    try:
        container.app.head_position()  # the event store's pool
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as probe:
            rows = probe.execute(
                "SELECT a.pid, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                "WHERE a.datname = 'scheduler' AND a.usename = 'sched'"
            ).fetchall()
    finally:
        container.close()
    assert len(rows) >= 3, "the event store's pool, the views' pool and this probe"
    assert all(encrypted for _pid, encrypted in rows), rows


def test_a_database_certificate_from_another_ca_stops_the_start_without_the_password(
    tls_postgres: PrivatePostgres, certificates: CertificateFiles
) -> None:
    url = f"postgresql://sched:{PASSWORD}@localhost:{tls_postgres.port}/scheduler"
    other_ca = certificates.other_ca
    settings = load_settings(
        None,
        {
            "SCHEDULER_DATABASE__URL": f"{url}?sslmode=verify-full&sslrootcert={other_ca}",
            "SCHEDULER_DATABASE__CONNECTION_TIMEOUT_SECONDS": "2",
        },
    )
    with pytest.raises(StartupError) as caught:
        open_container(settings, "api")
    message = str(caught.value)
    assert "certificate verify failed" in message, message
    assert PASSWORD not in message and "sched:***@" in message


def test_health_names_a_bus_it_cannot_reach_without_its_password(
    tls_redis: TlsRedis, certificates: CertificateFiles, tmp_path: Path
) -> None:
    url = tls_redis.url()
    env = redis_settings(url, certificates.other_ca)
    env["SCHEDULER_DATABASE__URL"] = f"sqlite:///{tmp_path}/health.db"
    container = build_container(load_settings(None, env))
    try:
        answer = call_health(create_api(container))
    finally:
        container.close()
    assert answer.status_code == 503
    queue = answer.json()["checks"]["message_queue"]
    assert queue["status"] == "down" and "certificate verify failed" in queue["error"]
    assert PASSWORD not in answer.text


def call_health(api: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=api, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/health")

    return asyncio.run(send())
