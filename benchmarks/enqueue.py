"""Requesting many runs of one task: the bulk endpoint, or single triggers from several clients."""

from __future__ import annotations

from typing import Any

import httpx
from run import fire_triggers

BATCH = 1000  # the bulk endpoint's limit per request
MODES = ("bulk", "single")


def enqueue_bulk(http: httpx.Client, ref: str, n: int, body: dict[str, Any]) -> list[str]:
    """N runs in `POST /api/tasks/{ref}/trigger/batch` requests of up to BATCH; their ids."""
    run_ids: list[str] = []
    for start in range(0, n, BATCH):
        runs = [body] * min(BATCH, n - start)
        reply = http.post(f"/api/tasks/{ref}/trigger/batch", json={"runs": runs})
        if reply.status_code in (404, 405):
            raise RuntimeError(
                f"POST /api/tasks/{{ref}}/trigger/batch answered {reply.status_code}: this "
                "build has no bulk endpoint; run with --enqueue single"
            )
        if reply.status_code != 202:
            raise RuntimeError(f"bulk trigger: HTTP {reply.status_code}: {reply.text[:300]}")
        run_ids += reply.json()["run_ids"]
    return run_ids


def enqueue(
    base: str, ref: str, n: int, mode: str, body: dict[str, Any], clients: int
) -> list[str]:
    """N runs of task `ref` with trigger `body`, by `mode` (bulk, or single from `clients`)."""
    if mode == "bulk":
        with httpx.Client(base_url=base, timeout=120) as http:
            return enqueue_bulk(http, ref, n, body)
    return fire_triggers(base, ref, n, clients, body or None).run_ids
