"""The API's edge in process: the middlewares of entrypoints/api/edge.py around a toy app.

The real routes and processes are driven in tests/e2e/test_edge.py; here stand what a
running `scheduler` cannot show yet: a principal (authentication is a later part of issue
10, so a stand-in middleware sets one and answers 401), and an unhandled error (500).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.metrics import Metrics
from application.circuit_breaker import CircuitBreaker
from entrypoints.api.edge import install_edge
from entrypoints.api.errors import install_error_handlers
from entrypoints.api.rate_limit import enforce_principal_limit
from entrypoints.live_config import LiveConfig
from entrypoints.settings import ApiSettings, Settings

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class Principal:
    actor: str
    role: str = "admin"


class StandInAuth:
    """Sets a principal from `X-API-Key: NAME`, answers 401 to `X-API-Key: bad`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers") or []).get(b"x-api-key")
        if key == b"bad":
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        if key:
            scope.setdefault("state", {})["principal"] = Principal(f"key:{key.decode()}")
        await self.app(scope, receive, send)


def toy_api(
    metrics: Metrics | None = None,
    as_dependency: bool = False,
    live: LiveConfig | None = None,
    **api: Any,
) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/things/{n}")
    def thing(n: int) -> dict[str, int]:
        return {"n": n}

    @app.get("/api/inside", dependencies=[Depends(enforce_principal_limit)])
    def inside(request: Request) -> dict[str, str]:
        return {"address": request.state.client_address}

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    settings = live or LiveConfig.fixed(Settings(api=ApiSettings(**api)))
    if as_dependency:
        # Innermost, as an authentication dependency would be: the principal appears only
        # inside the app, which charges it through enforce_principal_limit.
        app.add_middleware(StandInAuth)
        install_edge(app, settings, metrics or Metrics(), CircuitBreaker("database"))
    else:
        install_edge(
            app, settings, metrics or Metrics(), CircuitBreaker("database"), Middleware(StandInAuth)
        )
    return app


def call(
    app: FastAPI,
    method: str,
    path: str,
    client: tuple[str, int] = ("192.0.2.10", 40000),
    **kwargs: Any,
) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://toy") as http:
            return await http.request(method, path, **kwargs)

    return asyncio.run(send())


def assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/things/1", 200), ("/api/nope", 404), ("/api/things/x", 422), ("/api/boom", 500)],
)
def test_every_answer_carries_the_security_headers(path: str, status: int) -> None:
    response = call(toy_api(), "GET", path)
    assert response.status_code == status
    assert_secured(response)


def test_an_unhandled_error_is_a_plain_500_that_names_nothing_inside() -> None:
    response = call(toy_api(), "GET", "/api/boom")
    assert response.json() == {"detail": "internal server error"}
    assert "boom" not in response.text


def test_a_refused_body_a_throttled_request_and_an_outsider_carry_the_headers_too() -> None:
    big = call(toy_api(max_body_bytes=10), "POST", "/api/things/1", content=b"x" * 100)
    assert big.status_code == 413
    assert_secured(big)
    app = toy_api(rate_limit_per_second=1, rate_limit_burst=1)
    call(app, "GET", "/api/things/1")
    throttled = call(app, "GET", "/api/things/1")
    assert throttled.status_code == 429
    assert_secured(throttled)
    outsider = call(toy_api(ip_allowlist=("10.0.0.0/8",)), "GET", "/api/things/1")
    assert outsider.status_code == 403
    assert_secured(outsider)


def test_hsts_only_over_https_or_from_a_trusted_proxy_saying_https() -> None:
    app = toy_api(trusted_proxies=("192.0.2.0/24",))
    assert "strict-transport-security" not in call(app, "GET", "/health").headers
    proxied = call(app, "GET", "/health", headers={"X-Forwarded-Proto": "https"})
    assert proxied.headers["strict-transport-security"] == "max-age=31536000"
    untrusted = call(
        app, "GET", "/health", client=("203.0.113.9", 1), headers={"X-Forwarded-Proto": "https"}
    )
    assert "strict-transport-security" not in untrusted.headers


def test_the_api_docs_get_a_policy_that_lets_swagger_load() -> None:
    response = call(toy_api(), "GET", "/docs")
    assert response.status_code == 200
    assert "https://cdn.jsdelivr.net" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_principal_has_a_bucket_of_its_own_whatever_its_address() -> None:
    app = toy_api(rate_limit_per_second=1, rate_limit_burst=2)
    key = {"X-API-Key": "alice"}
    assert call(app, "GET", "/api/things/1", ("192.0.2.1", 1), headers=key).status_code == 200
    assert call(app, "GET", "/api/things/1", ("192.0.2.2", 1), headers=key).status_code == 200
    third = call(app, "GET", "/api/things/1", ("192.0.2.3", 1), headers=key)
    assert third.status_code == 429, "alice used her burst from two addresses"
    assert "per credential" in third.json()["detail"]
    assert third.headers["retry-after"] == "1"
    other = call(app, "GET", "/api/things/1", ("192.0.2.3", 1), headers={"X-API-Key": "bob"})
    assert other.status_code == 200, "bob, from the same address, has tokens of his own"


def test_an_address_has_a_bucket_of_its_own_whatever_the_principal() -> None:
    metrics = Metrics()
    app = toy_api(metrics, rate_limit_per_second=0.5, rate_limit_burst=2)
    for name in ("alice", "bob"):
        assert call(app, "GET", "/api/things/1", headers={"X-API-Key": name}).status_code == 200
    third = call(app, "GET", "/api/things/1", headers={"X-API-Key": "carol"})
    assert third.status_code == 429
    assert "per client address" in third.json()["detail"]
    assert third.headers["retry-after"] == "2"
    assert call(app, "GET", "/api/things/1", ("192.0.2.99", 1)).status_code == 200
    assert sample(metrics, "address") == 1.0 and sample(metrics, "principal") == 0.0


def test_failed_authentications_are_throttled_far_sooner_than_requests() -> None:
    metrics = Metrics()
    app = toy_api(metrics, auth_failure_limit_per_minute=6, auth_failure_burst=3)
    bad = {"X-API-Key": "bad"}
    assert [call(app, "GET", "/api/things/1", headers=bad).status_code for _ in range(3)] == [
        401,
        401,
        401,
    ]
    refused = call(app, "GET", "/api/things/1", headers=bad)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"  # 6 per minute: one every 10 s
    assert "failed authentications" in refused.json()["detail"]
    good = call(app, "GET", "/api/things/1", headers={"X-API-Key": "alice"})
    assert good.status_code == 429, "the address is refused before authentication is tried"
    elsewhere = call(app, "GET", "/api/things/1", ("192.0.2.77", 1), headers=bad)
    assert elsewhere.status_code == 401, "another address still gets its own tries"
    assert sample(metrics, "auth_failures") == 2.0


def test_probes_are_limited_apart_and_never_use_a_clients_tokens() -> None:
    app = toy_api(rate_limit_per_second=1, rate_limit_burst=1)
    assert [call(app, "GET", "/health").status_code for _ in range(10)] == [200] * 10
    assert call(app, "GET", "/api/things/1").status_code == 200


def test_probes_have_a_limit_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # A refill too slow to matter: on a loaded machine 45 requests could take long enough
    # for the real 20/s to hand back a token each, and no 429 would come.
    monkeypatch.setattr("entrypoints.api.rate_limit.PROBE_RATE", 0.001)
    app = toy_api()
    statuses = [call(app, "GET", "/health").status_code for _ in range(45)]
    assert statuses.count(429) >= 1 and statuses[:40] == [200] * 40


def test_authentication_inside_the_app_charges_the_principal_through_the_dependency() -> None:
    app = toy_api(as_dependency=True, rate_limit_per_second=1, rate_limit_burst=2)
    key = {"X-API-Key": "alice"}
    # The address bucket allows 2; alice's is charged inside the app, from two addresses.
    assert call(app, "GET", "/api/inside", ("192.0.2.1", 1), headers=key).status_code == 200
    assert call(app, "GET", "/api/inside", ("192.0.2.2", 1), headers=key).status_code == 200
    third = call(app, "GET", "/api/inside", ("192.0.2.3", 1), headers=key)
    assert third.status_code == 429
    assert third.headers["retry-after"] == "1"


def test_a_limit_of_zero_turns_it_off() -> None:
    app = toy_api(rate_limit_per_second=0, auth_failure_limit_per_minute=0)
    assert {call(app, "GET", "/api/things/1").status_code for _ in range(300)} == {200}
    bad = {"X-API-Key": "bad"}
    assert {call(app, "GET", "/api/things/1", headers=bad).status_code for _ in range(20)} == {401}


def test_cors_answers_a_configured_origin_and_ignores_any_other() -> None:
    app = toy_api(cors_origins=("https://app.example.com",))
    allowed = call(app, "GET", "/api/things/1", headers={"Origin": "https://app.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-credentials" not in allowed.headers
    assert "X-Log-Position" in allowed.headers["access-control-expose-headers"]
    other = call(app, "GET", "/api/things/1", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


def test_the_allowlist_lets_in_only_its_networks_and_says_nothing_of_them() -> None:
    metrics = Metrics()
    app = toy_api(metrics, ip_allowlist=("10.0.0.0/8", "2001:db8::/32"))
    inside = call(app, "GET", "/api/inside", ("10.1.2.3", 1))
    assert inside.status_code == 200 and inside.json() == {"address": "10.1.2.3"}
    assert call(app, "GET", "/api/inside", ("2001:db8::5", 1)).status_code == 200
    outside = call(app, "GET", "/api/inside", ("192.0.2.10", 1))
    assert outside.status_code == 403
    assert outside.json() == {"detail": "access from this address is not allowed"}
    assert "10.0.0.0" not in outside.text
    assert call(app, "GET", "/health", ("192.0.2.10", 1)).status_code == 403
    assert metrics.registry.get_sample_value("scheduler_api_address_refused_total") == 2.0


def test_the_allowlist_believes_forwarded_for_only_from_a_trusted_proxy() -> None:
    app = toy_api(ip_allowlist=("10.0.0.0/8",), trusted_proxies=("192.0.2.1",))
    forwarded = {"X-Forwarded-For": "10.9.9.9"}
    via_proxy = call(app, "GET", "/api/inside", ("192.0.2.1", 1), headers=forwarded)
    assert via_proxy.status_code == 200 and via_proxy.json() == {"address": "10.9.9.9"}
    spoofed = call(app, "GET", "/api/inside", ("192.0.2.2", 1), headers=forwarded)
    assert spoofed.status_code == 403


def sample(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value("scheduler_api_throttled_total", {"reason": reason})


def swap_api(live: LiveConfig, **api: Any) -> None:
    """Put new [api] settings in force, as an applied reload does."""
    current = live.current
    fresh = Settings(api=ApiSettings(**api))
    live.swap(dataclasses.replace(current, settings=fresh, version=current.version + 1))


def test_a_reloaded_rate_limit_applies_to_the_next_request() -> None:
    live = LiveConfig.fixed(Settings(api=ApiSettings(rate_limit_per_second=1, rate_limit_burst=2)))
    app = toy_api(live=live)
    assert [call(app, "GET", "/api/things/1").status_code for _ in range(3)] == [200, 200, 429]
    swap_api(live, rate_limit_per_second=1, rate_limit_burst=5)
    codes = [call(app, "GET", "/api/things/1").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]  # new buckets, full at the new burst
    assert "bursts of 5" in call(app, "GET", "/api/things/1").json()["detail"]


def test_reloaded_cors_origins_apply_to_the_next_request() -> None:
    live = LiveConfig.fixed(Settings(api=ApiSettings(cors_origins=("https://a.example",))))
    app = toy_api(live=live)
    origin = {"Origin": "https://b.example"}
    assert (
        "access-control-allow-origin"
        not in call(app, "GET", "/api/things/1", headers=origin).headers
    )
    swap_api(live, cors_origins=("https://b.example",))
    answer = call(app, "GET", "/api/things/1", headers=origin)
    assert answer.headers["access-control-allow-origin"] == "https://b.example"


def test_a_reloaded_allowlist_applies_to_the_next_request() -> None:
    live = LiveConfig.fixed(Settings(api=ApiSettings(ip_allowlist=("10.0.0.0/8",))))
    app = toy_api(live=live)
    assert call(app, "GET", "/api/inside", ("192.0.2.10", 1)).status_code == 403
    swap_api(live, ip_allowlist=("192.0.2.0/24",))
    assert call(app, "GET", "/api/inside", ("192.0.2.10", 1)).status_code == 200
    assert call(app, "GET", "/api/inside", ("10.1.2.3", 1)).status_code == 403
    swap_api(live)  # empty: everyone
    assert call(app, "GET", "/api/inside", ("10.1.2.3", 1)).status_code == 200
