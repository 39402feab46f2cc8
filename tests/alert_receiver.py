"""A real webhook receiver for the alerting tests, and the signature check a receiver makes."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "receiver-shared-secret-0123456789"


@dataclass
class Receiver:
    """A webhook receiver on a fixed port: up, down (connection refused) or answering 500."""

    port: int = 0
    answer: int = 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)  # delivery ids answered 2xx
    _server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.answer)
                self.end_headers()
                if receiver.answer < 300:
                    receiver.acked.append(self.headers["X-Scheduler-Delivery"])

            def log_message(self, *_: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T0/B0/secretpath"

    def acked_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(b) for h, b in self.received if h["X-Scheduler-Delivery"] in self.acked]


def verify(headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(
        SECRET.encode(), headers["X-Scheduler-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(headers["X-Scheduler-Signature"], f"sha256={expected}")
