"""Request-scoped access to the container, references and command contexts."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request, Response

from domain.context import CommandContext
from domain.errors import InvalidFieldError, NotFoundError
from domain.ids import parse_uuid
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
    x_actor: Annotated[str | None, Header(max_length=200)] = None,
    x_correlation_id: Annotated[str | None, Header(max_length=100)] = None,
) -> CommandContext:
    """Who is acting (X-Actor until auth lands) and the request's correlation id."""
    correlation = parse_uuid(x_correlation_id) if x_correlation_id else None
    return CommandContext(
        actor=x_actor or "anonymous",
        now=container.clock.now(),
        correlation_id=correlation or uuid.uuid4(),
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


def resolve_task_id(read_model: ReadModel, container: Container, ref: str) -> UUID:
    """The UUID a reference names; a name is resolved through the index aggregate."""
    if not is_task_number(ref) and parse_uuid(ref) is None:
        task_id = container.app.task_id_for_name(ref)
        if task_id is not None:
            return task_id
    return UUID(resolve_task(read_model, ref)["uuid"])


def wait_for_views(container: Container, response: Response, position: int | None) -> bool:
    """Read-your-writes: wait (bounded) until every view has applied `position`."""
    if position is None:
        return True
    response.headers["X-Log-Position"] = str(position)
    try:
        return container.waiter.wait(
            position,
            container.projection_names,
            container.settings.api.read_wait_timeout_seconds,
        )
    except Exception:  # the command is saved; only the wait for the views failed
        logger.warning("could not wait for the views", exc_info=True)
        return False


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


def is_task_number(ref: str) -> bool:
    """Whether a reference is a task number."""
    # str.isdigit() also accepts "²" and other digits int() refuses: ASCII only.
    return ref.isascii() and ref.isdigit()


def resolve_upstreams(read_model: ReadModel, container: Container, refs: list[str]) -> list[str]:
    """`depends_on` refs (number, UUID or name) as task UUIDs; an unknown one is a 422."""
    resolved = []
    for ref in refs:
        try:
            resolved.append(str(resolve_task_id(read_model, container, ref)))
        except (NotFoundError, InvalidFieldError):
            raise InvalidFieldError("depends_on", f"no task {ref!r}") from None
    return resolved
