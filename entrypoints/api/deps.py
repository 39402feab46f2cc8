"""Request-scoped access to the container, references and command contexts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request, Response

from domain.context import CommandContext
from domain.errors import InvalidFieldError, NotFoundError
from domain.ids import is_task_number, parse_uuid
from entrypoints.api.permissions import PrincipalDep
from entrypoints.bootstrap import Container
from projections.queries import ReadModel

logger = logging.getLogger(__name__)
MAX_TASK_NUMBER = 2**31 - 1  # the tasks.number column is a 32-bit integer


def get_container(request: Request) -> Container:
    """The process's container, set by create_api."""
    return request.app.state.container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_read_model(container: ContainerDep) -> ReadModel:
    """Queries over the read tables."""
    return ReadModel(container.database)


ReadModelDep = Annotated[ReadModel, Depends(get_read_model)]


def command_context(
    container: ContainerDep,
    principal: PrincipalDep,
    x_actor: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Recorded as the unverified `on_behalf_of` of the events, never as"
            " their actor (the actor is the authenticated caller).",
        ),
    ] = None,
    x_correlation_id: Annotated[str | None, Header(max_length=100)] = None,
) -> CommandContext:
    """Who is acting (the authenticated principal) and the request's correlation id."""
    correlation = parse_uuid(x_correlation_id) if x_correlation_id else None
    return CommandContext(
        actor=principal.actor,
        now=container.clock.now(),
        correlation_id=correlation or uuid.uuid4(),
        on_behalf_of=x_actor or None,
    )


ContextDep = Annotated[CommandContext, Depends(command_context)]


def resolve_task(read_model: ReadModel, ref: str, field: str = "ref") -> dict[str, Any]:
    """A task resource by number, UUID or name; raises NotFoundError.

    Raises:
        InvalidFieldError: the reference is a number no task can have (naming `field`).
    """
    task: dict[str, Any] | None
    if is_task_number(ref):
        task = read_model.task_by_number(task_number(ref, field))
    elif (task_uuid := parse_uuid(ref)) is not None:
        task = read_model.task_by_uuid(task_uuid)
    else:
        task = read_model.task_by_name(ref)
    if task is None:
        raise NotFoundError("task", ref)
    return task


def resolve_task_id(
    read_model: ReadModel, container: Container, ref: str, field: str = "ref"
) -> UUID:
    """The UUID a reference names, from the write side: the name index aggregate and the
    number index read from the log, never the tasks view (which may be behind).

    Raises:
        InvalidFieldError: the reference is a number no task can have (naming `field`).
    """
    if is_task_number(ref):
        task_number(ref, field)
    return container.app.resolve_task_ref(ref)


def task_resource(
    container: Container, read_model: ReadModel, ref: str, response: Response | None = None
) -> dict[str, Any]:
    """A task by reference from the view; from its events (marked stale) when the view lacks
    it or cannot be read.

    Raises:
        NotFoundError: no task has that number, UUID or name, in the view or the log.
        InvalidFieldError: the reference is a number no task can have.
    """
    try:
        return resolve_task(read_model, ref)
    except InvalidFieldError:
        raise
    except Exception as error:  # not in the view, or the view cannot be read
        if not isinstance(error, NotFoundError):
            logger.warning("tasks view unreadable; answering from the log", exc_info=True)
        task = task_from_log(container, container.app.resolve_task_ref(ref))
        if task is None:
            raise
        if response is not None:
            mark_stale(response)
        return task


def view_or_log(
    container: Container,
    response: Response,
    aggregate_id: UUID,
    from_view: Callable[[UUID], dict[str, Any] | None],
    from_log: Callable[[Container, UUID], dict[str, Any] | None],
) -> dict[str, Any] | None:
    """A resource from its view; from its events (marked stale) when the view lacks it or
    cannot be read; None when neither knows it."""
    try:
        resource = from_view(aggregate_id)
    except Exception:
        logger.warning("view unreadable; answering from the log", exc_info=True)
        resource = None
    if resource is None:
        resource = from_log(container, aggregate_id)
        if resource is not None:
            mark_stale(response)
    return resource


def run_from_log(container: Container, run_id: UUID) -> dict[str, Any] | None:
    """The run rebuilt from its own events, with its task's number."""
    events = container.app.aggregate_events(run_id)
    if not events:
        return None
    run = container.time_travel.run_state(events)
    if run is not None and run.get("task_uuid"):
        run["task_id"] = container.app.task_number(UUID(run["task_uuid"]))
    return run


def worker_from_log(container: Container, worker_id: UUID) -> dict[str, Any] | None:
    """The worker rebuilt from its own events (no load: that needs the runs)."""
    events = container.app.aggregate_events(worker_id)
    return container.time_travel.worker_state(events) if events else None


def answer_from_view(
    container: Container,
    response: Response,
    kind: str,
    aggregate_id: UUID,
    position: int | None,
    from_view: Callable[[UUID], dict[str, Any] | None],
    from_log: Callable[[Container, UUID], dict[str, Any] | None],
) -> dict[str, Any]:
    """A resource after a command: from its view once caught up, else from its events.

    A command whose events were saved never answers 404 or 5xx because a view is behind;
    the answer then carries `X-View-Stale: true`.
    """
    fresh = wait_for_views(container, response, position)
    resource = None
    if fresh:
        try:
            resource = from_view(aggregate_id)
        except Exception:  # saved all the same: the log answers for the view
            logger.warning("view unreadable after a command; answering from the log", exc_info=True)
    if resource is None:
        mark_stale(response)
        resource = from_log(container, aggregate_id)
        if resource is None:  # the log has nothing either: nothing was ever saved for it
            raise NotFoundError(kind, aggregate_id)
    resource["quarantine"] = quarantine_of(container, aggregate_id)
    return resource


def task_from_log(container: Container, task_id: UUID) -> dict[str, Any] | None:
    """The task rebuilt from its own events (the view's rules, without the view)."""
    events = container.app.aggregate_events(task_id)
    if not events:
        return None
    return container.time_travel.task_state(events, container.app.task_number(task_id))


def wait_for_views(container: Container, response: Response, position: int | None) -> bool:
    """Read-your-writes: wait (bounded) until every view has applied `position`.

    When they have not in time, the answer says so with `X-View-Stale: true`: the command
    was saved at `X-Log-Position` all the same (docs/api.md).
    """
    if position is None:
        return True
    response.headers["X-Log-Position"] = str(position)
    try:
        reached = container.waiter.wait(
            position,
            container.projection_names,
            container.settings.api.read_wait_timeout_seconds,
        )
    except Exception:  # the command is saved; only the wait for the views failed
        logger.warning("could not wait for the views", exc_info=True)
        reached = False
    if not reached:
        mark_stale(response)
    return reached


def quarantine_of(container: Container, aggregate_id: UUID) -> list[dict[str, Any]] | None:
    """Where an aggregate is held, if anywhere (None when nowhere, or unknown)."""
    try:
        entries = container.quarantine.entries(aggregate_ids=[str(aggregate_id)])
    except Exception:  # a resource read must not fail because the quarantine cannot be read
        logger.warning("could not read the quarantine", exc_info=True)
        return None
    if not entries:
        return None
    return [
        {
            "consumer": e.consumer,
            "position": e.position,
            "error": e.error,
            "since": e.first_failed_at,
        }
        for e in entries
    ]


def mark_stale(response: Response) -> None:
    """Say that the answer is older than the command it follows (a view is behind)."""
    response.headers["X-View-Stale"] = "true"


def parse_id(kind: str, text: str) -> UUID:
    """A run or worker id from the path; unknown shapes are simply not found."""
    parsed = parse_uuid(text)
    if parsed is None:
        raise NotFoundError(kind, text)
    return parsed


def parse_run_id(run_id: str) -> UUID:
    """A run id from the path."""
    return parse_id("run", run_id)


def task_number(ref: str, field: str = "ref") -> int:
    """A task number from digits; one beyond the numbers tasks can have is a 422 naming `field`."""
    # The length before int(): Python refuses to convert thousands of digits at all.
    digits = ref.lstrip("0") or "0"
    if len(digits) > len(str(MAX_TASK_NUMBER)) or int(digits) > MAX_TASK_NUMBER:
        shown = ref if len(ref) <= 20 else f"{ref[:20]}... ({len(ref)} digits)"
        raise InvalidFieldError(field, f"task number {shown} is beyond {MAX_TASK_NUMBER}")
    return int(digits)


def resolve_upstreams(read_model: ReadModel, container: Container, refs: list[str]) -> list[str]:
    """`depends_on` refs (number, UUID or name) as task UUIDs; an unknown one is a 422."""
    resolved = []
    for ref in refs:
        try:
            resolved.append(str(resolve_task_id(read_model, container, ref)))
        except (NotFoundError, InvalidFieldError):
            raise InvalidFieldError("depends_on", f"no task {ref!r}") from None
    return resolved
