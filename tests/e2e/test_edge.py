"""The edge of a real `scheduler` process: CORS, rate limits, the IP allowlist, headers.

Bound to 127.0.0.1, the API is reached from 127.0.0.1 and, as a second client address, from
127.0.0.2 (a client socket bound there); a trusted proxy is played by sending
X-Forwarded-For from 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    SCHEDULER,
    SchedulerProcess,
    base_env,
    free_port,
    running_scheduler,
    unique,
)

pytestmark = pytest.mark.e2e
ORIGIN = "https://app.example.com"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def from_address(proc: SchedulerProcess, address: str) -> httpx.Client:
    """A client whose requests come from `address` (any 127.x address is this host)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=proc.url, transport=transport, timeout=10)


def assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.status_code, name, response.headers)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "server" not in response.headers, "the edge names no server software"


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchedulerProcess]:
    env = {
        "SCHEDULER_API__CORS_ORIGINS": f'["{ORIGIN}"]',
        "SCHEDULER_API__MAX_BODY_BYTES": "2000",
        "SCHEDULER_API__RATE_LIMIT_PER_SECOND": "1",
        "SCHEDULER_API__RATE_LIMIT_BURST": "30",
    }
    with running_scheduler(tmp_path_factory.mktemp("edge"), env) as proc:
        yield proc


def test_a_configured_origin_is_allowed_and_an_arbitrary_one_is_not(
    edge: SchedulerProcess,
) -> None:
    with from_address(edge, "127.0.0.3") as client:
        allowed = client.get("/api/tasks", headers={"Origin": ORIGIN})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "Origin" in allowed.headers["vary"]
        other = client.get("/api/tasks", headers={"Origin": "https://evil.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers


def test_a_preflight_from_a_configured_origin_names_what_may_be_sent(
    edge: SchedulerProcess,
) -> None:
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, x-api-key, content-type, idempotency-key",
    }
    with from_address(edge, "127.0.0.3") as client:
        answer = client.options("/api/tasks/1/trigger", headers=preflight)
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in answer.headers["access-control-allow-methods"]
        allowed = answer.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "x-api-key", "idempotency-key", "if-match"):
            assert header in allowed
        assert "access-control-allow-credentials" not in answer.headers
        assert_secured(answer)
        refused = client.options(
            "/api/tasks/1/trigger", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


def test_every_kind_of_answer_carries_the_security_headers(edge: SchedulerProcess) -> None:
    with from_address(edge, "127.0.0.4") as client:
        name = unique("headers")
        created = client.post("/api/tasks", json={"name": name, "command": "true"})
        assert created.status_code == 201
        answers = {
            201: created,
            200: client.get(f"/api/tasks/{name}"),
            404: client.get("/api/tasks/no-such-task-x"),
            422: client.post("/api/tasks", json={"name": ""}),
            413: client.post(
                "/api/tasks", content=b"x" * 5000, headers={"Content-Type": "application/json"}
            ),
            405: client.put("/api/tasks"),
        }
        for status, response in answers.items():
            assert response.status_code == status, (status, response.text)
            assert_secured(response)
        metrics = client.get("/metrics")
        assert_secured(metrics)
        assert "scheduler_api_throttled_total" in metrics.text


def test_a_client_over_its_limit_gets_429_with_retry_after_and_others_are_unaffected(
    edge: SchedulerProcess,
) -> None:
    with from_address(edge, "127.0.0.5") as noisy, from_address(edge, "127.0.0.6") as quiet:
        statuses = [noisy.get("/api/system/stats").status_code for _ in range(40)]
        assert statuses[:25] == [200] * 25, statuses
        assert 429 in statuses
        refused = noisy.get("/api/system/stats", headers={"Origin": ORIGIN})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "per client address" in refused.json()["detail"]
        assert refused.headers["access-control-allow-origin"] == ORIGIN, "a browser can read it"
        assert_secured(refused)
        assert quiet.get("/api/system/stats").status_code == 200
        assert noisy.get("/health").status_code == 200, "probes are limited apart"
        time.sleep(float(refused.headers["retry-after"]))
        assert noisy.get("/api/system/stats").status_code == 200, "a token came back"
        throttled = quiet.get("/metrics").text
    line = next(x for x in throttled.splitlines() if 'reason="address"' in x and "_total" in x)
    assert float(line.split()[-1]) >= 1


@contextmanager
def scheduler_with(tmp_path: Path, **env: str) -> Iterator[SchedulerProcess]:
    with running_scheduler(tmp_path, {f"SCHEDULER_{k.upper()}": v for k, v in env.items()}) as p:
        yield p


def test_an_address_outside_the_allowlist_is_refused_saying_nothing_of_it(tmp_path: Path) -> None:
    with (
        scheduler_with(tmp_path, api__ip_allowlist='["127.0.0.1/32"]') as proc,
        from_address(proc, "127.0.0.1") as inside,
        from_address(proc, "127.0.0.2") as outside,
    ):
        assert inside.get("/api/tasks").status_code == 200
        for path in ("/api/tasks", "/health", "/metrics", "/docs"):
            refused = outside.get(path)
            assert refused.status_code == 403, path
            assert refused.json() == {"detail": "access from this address is not allowed"}
            assert "127.0.0.1/32" not in refused.text
            assert_secured(refused)
        created = outside.post("/api/tasks", json={"name": "x", "command": "id"})
        assert created.status_code == 403
        assert inside.get("/api/tasks").json()["total"] == 0, "nothing was created"


def proxied_key(proc: SchedulerProcess) -> dict[str, str]:
    """An admin key, made by the anonymous local caller: a forwarded client is not local, so
    requests through the proxy need a credential."""
    with from_address(proc, "127.0.0.1") as local:
        made = local.post("/api/keys", json={"name": unique("proxy"), "role": "admin"})
    assert made.status_code == 201, made.text
    return {"X-API-Key": made.json()["key"]}


def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    with (
        scheduler_with(
            tmp_path,
            api__ip_allowlist='["127.0.0.1/32", "10.0.0.0/8"]',
            api__trusted_proxies='["127.0.0.1/32"]',
        ) as proc,
        from_address(proc, "127.0.0.1") as proxy,
        from_address(proc, "127.0.0.2") as stranger,
    ):
        key = proxied_key(proc)
        inside = proxy.get("/api/tasks", headers={**key, "X-Forwarded-For": "10.1.2.3"})
        assert inside.status_code == 200, inside.text
        outsider = proxy.get("/api/tasks", headers={**key, "X-Forwarded-For": "192.0.2.9"})
        assert outsider.status_code == 403, "the proxy says the client is outside"
        forged = proxy.get("/api/tasks", headers={**key, "X-Forwarded-For": "10.1.2.3, 192.0.2.9"})
        assert forged.status_code == 403, "the right-most untrusted address is the client"
        spoofed = stranger.get("/api/tasks", headers={**key, "X-Forwarded-For": "10.1.2.3"})
        assert spoofed.status_code == 403, "X-Forwarded-For from an untrusted peer is ignored"


def test_the_rate_limit_keys_on_the_address_a_trusted_proxy_names(tmp_path: Path) -> None:
    with (
        scheduler_with(
            tmp_path,
            api__trusted_proxies='["127.0.0.1/32"]',
            api__rate_limit_per_second="0.5",
            api__rate_limit_burst="5",
        ) as proc,
        from_address(proc, "127.0.0.1") as proxy,
    ):
        keys = {n: proxied_key(proc) for n in (1, 2, 3)}  # one client each: per-key limits too
        first = [
            proxy.get(
                "/api/tasks", headers={**keys[1], "X-Forwarded-For": "198.51.100.1"}
            ).status_code
            for _ in range(6)
        ]
        assert first == [200] * 5 + [429]
        other = proxy.get("/api/tasks", headers={**keys[2], "X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 200, "another client behind the same proxy"
        https = proxy.get(
            "/api/tasks",
            headers={**keys[3], "X-Forwarded-For": "198.51.100.3", "X-Forwarded-Proto": "https"},
        )
        assert https.headers["strict-transport-security"] == "max-age=31536000"
        assert "strict-transport-security" not in other.headers


def test_a_503_carries_the_security_headers(tmp_path: Path) -> None:
    # The API alone, with no dispatcher anywhere: /health is 503 degraded.
    port = free_port()
    with (tmp_path / "api.log").open("ab") as log:
        process = subprocess.Popen(
            [str(SCHEDULER), "api"],
            cwd=tmp_path,
            env={**base_env(), "SCHEDULER_API__PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline, answer = time.monotonic() + 30, None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.1)
        assert answer is not None, (tmp_path / "api.log").read_text()
        assert answer.status_code == 503
        assert_secured(answer)
    finally:
        process.terminate()
        process.wait(20)
