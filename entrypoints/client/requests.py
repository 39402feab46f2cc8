"""The requests both clients send and how they read the answers (no I/O here)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx

from entrypoints.client.errors import SchedulerError

BATCH_LIMIT = 1_000  # the bulk trigger's most runs per request


NAMESPACED = ("/api/tasks", "/api/runs")  # the routes that take `?namespace=`


@dataclass(frozen=True)
class Call:
    """One HTTP request, ready for a sync or an async httpx client."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def in_namespace(call: Call, namespace: str | None) -> Call:
    """The call within a namespace: `?namespace=` on task and run routes (names resolve
    there, lists show only it, others' runs are not found), and a new task is created there."""
    if namespace is None or not call.path.startswith(NAMESPACED):
        return call
    body = call.json
    if call.method == "POST" and call.path == "/api/tasks" and isinstance(body, dict):
        body = {"namespace": namespace, **body}  # a spec naming another one gets a 422
    return replace(call, json=body, params={**call.params, "namespace": namespace})


def auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    """`X-API-Key` for an API key, `Authorization: Bearer` for a JWT (or a key as bearer)."""
    if api_key and token:
        raise ValueError("give api_key or token, not both")
    if api_key:
        return {"X-API-Key": api_key}
    return {"Authorization": f"Bearer {token}"} if token else {}


def task_path(ref: str | int) -> str:
    """A task by number, UUID or name."""
    return f"/api/tasks/{quote(str(ref), safe='')}"


def waiting(wait: bool) -> dict[str, str]:
    """Without `wait`, the API answers once saved, not after its views (may be stale)."""
    return {} if wait else {"Prefer": "return=minimal"}


def trigger_call(
    ref: str | int, params: Mapping[str, Any] | None, idempotency_key: str | None, wait: bool
) -> Call:
    """A single trigger."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    body = {"params": dict(params or {})}
    return Call("POST", f"{task_path(ref)}/trigger", body, {}, {**headers, **waiting(wait)})


def batch_calls(ref: str | int, runs: Iterable[Mapping[str, Any]], wait: bool) -> Iterator[Call]:
    """Bulk triggers of at most BATCH_LIMIT runs each; a run is {"params", "idempotency_key"}."""
    path, headers = f"{task_path(ref)}/trigger/batch", waiting(wait)
    chunk: list[dict[str, Any]] = []
    for run in runs:
        chunk.append({k: v for k, v in run.items() if v is not None})
        if len(chunk) == BATCH_LIMIT:
            yield Call("POST", path, {"runs": chunk}, headers=headers)
            chunk = []
    if chunk:
        yield Call("POST", path, {"runs": chunk}, headers=headers)


def list_params(**filters: Any) -> dict[str, Any]:
    """Query parameters without the unset ones (the API refuses unknown or empty ones)."""
    return {name: value for name, value in filters.items() if value is not None}


def answer(response: httpx.Response) -> Any:
    """The JSON of a successful answer; an error answer raises SchedulerError."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text or response.reason_phrase}
    detail = body.get("detail") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    raise SchedulerError(response.status_code, str(detail or response.reason_phrase), errors)
