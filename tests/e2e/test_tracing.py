"""One run's spans, from every process of the distributed deployment, share one trace id.

The API, a projector, a dispatcher and a worker run as separate processes on PostgreSQL and
Redis, with tracing on and `otlp_endpoint` pointing at an OTLP/HTTP receiver run here.
"""

from __future__ import annotations

import gzip
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.e2e.cluster import Cluster, redis_cluster, wait_until
from tests.e2e.conftest import SCHEDULER

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
GIVEN = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as exported: the process it came from, its name and its ids in hex."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint that decodes every export it is sent."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                ok = self.path == "/v1/traces"
                if ok:
                    receiver.take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            attributes.get("service.name", ""),
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                        )
                    )
        with self._lock:
            self.requests += 1
            self.spans.extend(received)

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def start_traced(cluster: Cluster, receiver: OtlpReceiver) -> None:
    cluster.defaults["SCHEDULER_OBSERVABILITY__TRACING_ENABLED"] = "true"
    cluster.defaults["SCHEDULER_OBSERVABILITY__OTLP_ENDPOINT"] = receiver.url
    cluster.start_api()
    cluster.start("projector", "projector")
    cluster.start("dispatcher", "dispatcher")
    cluster.start("worker", "worker")
    cluster.wait_for_workers(1)


def test_a_run_s_spans_from_every_process_share_the_caller_s_trace(tmp_path: Path) -> None:
    with otlp_receiver() as receiver, redis_cluster(tmp_path) as cluster:
        start_traced(cluster, receiver)
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            assert client.post("/api/tasks", json={"name": "t", "command": "true"}).status_code
            response = client.post("/api/tasks/t/trigger", headers={"traceparent": GIVEN})
            assert response.status_code == 202, response.text
            answered = response.headers["traceparent"]
            run_id = response.json()["run_id"]
            wait_until(
                lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded",
                20,
                f"the run did not succeed: {cluster.logs()}",
            )
            events = client.get(f"/api/runs/{run_id}/events").json()

        # The answer names the API's span in the caller's trace; every event of the run,
        # the dispatcher's and the worker's included, records that trace.
        assert answered.split("-")[1] == TRACE_ID and answered != GIVEN
        assert [e["type"] for e in events][:3] == [
            "TaskRun.Requested",
            "TaskRun.Assigned",
            "TaskRun.Started",
        ]
        assert {e["traceparent"].split("-")[1] for e in events} == {TRACE_ID}

        # Each process exports its spans in batches, the API's request span only once the
        # answer has gone: wait for every expected span, not only for one of each process.
        expected = {
            ("scheduler-api", "POST /api/tasks/{ref}/trigger"),
            ("scheduler-api", "scheduler.save"),
            ("scheduler-projector", "projection.apply"),
            ("scheduler-dispatcher", "dispatcher.assign"),
            ("scheduler-dispatcher", "dispatcher.record_report"),
            ("scheduler-worker", "worker.execute"),
        }

        def span_names() -> set[tuple[str, str]]:
            return {(s.service, s.name) for s in receiver.in_trace(TRACE_ID)}

        wait_until(
            lambda: expected <= span_names(),
            15,
            f"spans of the trace: {sorted(span_names())}",
        )
        names = span_names()
        assert expected <= names
        server = next(s for s in receiver.in_trace(TRACE_ID) if s.name.startswith("POST"))
        assert server.parent_span_id == GIVEN.split("-")[2]
        assert server.span_id == answered.split("-")[2]

        # `scheduler replay` shows the trace with the other metadata.
        replayed = subprocess.run(
            [str(SCHEDULER), "replay", "run", run_id],
            env=cluster.env("replay"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert replayed.returncode == 0, replayed.stderr
        assert f"trace 00-{TRACE_ID}-" in replayed.stdout
