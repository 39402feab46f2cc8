"""Domain errors: each says what is wrong in words an operator can act on."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for every rule the domain refuses to break."""


class InvalidFieldError(DomainError):
    """A field of a command has a value the domain does not accept."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TaskNameTakenError(DomainError):
    """Another live task already uses this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a task named {name!r} already exists")
        self.name = name


class NamespaceExistsError(DomainError):
    """A namespace of this name exists already (the default one always does)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the namespace {name!r} exists already")
        self.name = name


class ApiKeyNameTakenError(DomainError):
    """An API key has had this name; names are never reused (the audit trail names keys)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an API key named {name!r} exists or existed; choose another name")
        self.name = name


class TaskDeletedError(DomainError):
    """The task was deleted; it accepts no more commands."""

    def __init__(self, task_id: object) -> None:
        super().__init__(f"task {task_id} is deleted")


class IllegalTransitionError(DomainError):
    """The command is not allowed in the aggregate's current state."""

    def __init__(self, what: str, status: str, command: str) -> None:
        super().__init__(f"{what} is {status}; cannot {command}")
        self.status = status
        self.command = command


class NotFoundError(DomainError):
    """A reference names nothing that exists."""

    def __init__(self, kind: str, ref: object) -> None:
        super().__init__(f"{kind} {ref!s} not found")
        self.kind = kind
        self.ref = ref


class AggregateUnreadableError(DomainError):
    """An aggregate's stored events cannot be replayed (see the quarantine to repair it)."""

    def __init__(self, kind: str, ref: object, reason: str) -> None:
        super().__init__(f"{kind} {ref!s} cannot be loaded from its events: {reason}")
        self.kind = kind
        self.ref = ref
        self.reason = reason


class VersionMismatchError(DomainError):
    """The caller's expected version is not the current one (optimistic concurrency)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected}, but the current version is {actual}")


class ScheduleError(DomainError):
    """A task's timing cannot be evaluated: no next fire time can be computed from it.

    The timing functions (domain/cron.py, domain/timing.py) raise only this, whatever croniter,
    zoneinfo or datetime arithmetic raised underneath, so a consumer has one thing to catch.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
