"""The http executor against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.executors import ExecutionRequest, HttpExecutor
from application.circuit_breaker import CircuitState


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("?")[0] or 200)
        body = f"path={self.path} run={self.headers['X-Scheduler-Run-Id']}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def request(url: str, **http: object) -> ExecutionRequest:
    return ExecutionRequest(
        run_id="r1", attempt=1, executor="http", command=url, timeout_seconds=5, http=http
    )


def test_a_2xx_answer_succeeds_with_the_body_as_output(server: str) -> None:
    result = HttpExecutor().execute(request(f"{server}/200"))
    assert result.succeeded
    assert "HTTP 200" in result.output and "run=r1" in result.output


def test_an_unexpected_status_fails_and_an_expected_one_succeeds(server: str) -> None:
    failed = HttpExecutor().execute(request(f"{server}/404"))
    assert not failed.succeeded and failed.error == "unexpected HTTP status 404"
    accepted = HttpExecutor().execute(request(f"{server}/404", expected_status=[404]))
    assert accepted.succeeded


def test_method_headers_and_body_are_sent(server: str) -> None:
    result = HttpExecutor().execute(request(server, method="POST", body='{"a": 1}'))
    assert result.succeeded and '{"a": 1}' in result.output


def test_a_host_that_keeps_failing_opens_its_breaker() -> None:
    executor = HttpExecutor()
    dead = "http://127.0.0.1:9/"  # discard port: nothing listens
    for _ in range(3):
        assert "request failed" in (executor.execute(request(dead)).error or "")
    assert executor.breakers.get("http:127.0.0.1").state is CircuitState.OPEN
    assert "circuit open" in (executor.execute(request(dead)).error or "")
