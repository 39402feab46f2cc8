"""The asynchronous client: the same calls as SchedulerClient, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from entrypoints.client.errors import RunWaitTimeoutError
from entrypoints.client.models import (
    BatchTriggered,
    Event,
    EventPage,
    Run,
    Task,
    TaskPage,
    Triggered,
)
from entrypoints.client.requests import (
    Call,
    answer,
    auth_headers,
    batch_calls,
    in_namespace,
    list_params,
    task_path,
    trigger_call,
)


class AsyncSchedulerClient:
    """Calls one scheduler API from asyncio; `async with`, or await aclose().

    Raises SchedulerError (status and the API's detail) for every error answer.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
        namespace: str | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._http.headers.update(auth_headers(api_key, token))
        self.namespace = namespace  # tasks and runs are looked up, listed and created there

    async def __aenter__(self) -> AsyncSchedulerClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(self, call: Call) -> Any:
        call = in_namespace(call, self.namespace)
        response = await self._http.request(
            call.method, call.path, json=call.json, params=call.params, headers=call.headers
        )
        return answer(response)

    async def create_task(self, spec: Mapping[str, Any]) -> Task:
        """Create a task from its definition (name, executor, command, schedule, ...)."""
        return Task.model_validate(await self._send(Call("POST", "/api/tasks", dict(spec))))

    async def get_task(self, ref: str | int) -> Task:
        """A task by number, UUID or name."""
        return Task.model_validate(await self._send(Call("GET", task_path(ref))))

    async def list_tasks(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> TaskPage:
        """A page of tasks, by number."""
        params = list_params(status=status, name=name, limit=limit, offset=offset)
        return TaskPage.model_validate(await self._send(Call("GET", "/api/tasks", params=params)))

    async def update_task(
        self, ref: str | int, changes: Mapping[str, Any], *, if_version: int | None = None
    ) -> Task:
        """Change part of a task; with `if_version`, only if it is still at that version."""
        headers = {"If-Match": str(if_version)} if if_version is not None else {}
        call = Call("PATCH", task_path(ref), dict(changes), headers=headers)
        return Task.model_validate(await self._send(call))

    async def trigger(
        self,
        ref: str | int,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        wait: bool = True,
    ) -> Triggered:
        """Request a run now; `wait=False` answers before the views have it (status pending)."""
        call = trigger_call(ref, params, idempotency_key, wait)
        return Triggered.model_validate(await self._send(call))

    async def trigger_many(
        self, ref: str | int, runs: Iterable[Mapping[str, Any]], *, wait: bool = True
    ) -> BatchTriggered:
        """Request many runs, 1,000 per request; each run is {"params", "idempotency_key"}.

        `wait=False` answers each request once saved, before the views have the runs.
        """
        answers = [
            BatchTriggered.model_validate(await self._send(call))
            for call in batch_calls(ref, runs, wait)
        ]
        return BatchTriggered.merge(answers)

    async def get_run(self, run_id: str) -> Run:
        """A run by id."""
        return Run.model_validate(await self._send(Call("GET", f"/api/runs/{run_id}")))

    async def wait_for_run(self, run_id: str, *, timeout: float = 60.0, poll: float = 0.1) -> Run:
        """The run once finished; RunWaitTimeoutError if it is not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (run := await self.get_run(run_id)).finished:
            if time.monotonic() >= deadline:
                raise RunWaitTimeoutError(run_id, run.status, timeout)
            await asyncio.sleep(poll)
        return run

    async def events(self, after: int = 0, limit: int = 100) -> EventPage:
        """One page of the log after a position."""
        params = {"after": after, "limit": limit}
        return EventPage.model_validate(await self._send(Call("GET", "/api/events", params=params)))

    async def follow_events(
        self, after: int = 0, *, poll: float = 0.5, limit: int = 100
    ) -> AsyncIterator[Event]:
        """Every event after a position, then each new one as it is saved (polls; endless)."""
        while True:
            page = await self.events(after, limit)
            for event in page.items:
                yield event
            after = page.next_after
            if len(page.items) < limit:
                await asyncio.sleep(poll)
