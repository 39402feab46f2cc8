"""The TaskName index aggregate: makes task names unique without reading a view."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext
from domain.errors import TaskNameTakenError
from domain.namespace import DEFAULT_NAMESPACE


class TaskName(SchedulerAggregate):
    """One per name ever used; holds the task currently owning the name, if any."""

    TOPIC = "scheduler:TaskName"

    class Created(SchedulerAggregate.Created):
        TOPIC = "scheduler:TaskName.Created"
        name: str
        task_id: UUID

        def apply(self, aggregate: TaskName) -> None:
            aggregate.name = self.name
            aggregate.task_id = self.task_id

    class Reserved(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskName.Reserved"
        task_id: UUID

        def apply(self, aggregate: TaskName) -> None:
            aggregate.task_id = self.task_id

    class Released(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskName.Released"

        def apply(self, aggregate: TaskName) -> None:
            aggregate.task_id = None

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        name: str
        task_id: UUID | None

    @staticmethod
    def id_for(name: str, namespace: str = DEFAULT_NAMESPACE) -> UUID:
        """The deterministic id of a name's index aggregate in a namespace.

        The default namespace keeps the id names had before namespaces, so the names stored
        then are the default namespace's; another namespace's names are paths under it.
        """
        if namespace == DEFAULT_NAMESPACE:
            return uuid5(NAMESPACE_URL, f"/task-names/{name}")
        return uuid5(NAMESPACE_URL, f"/namespaces/{namespace}/task-names/{name}")

    @classmethod
    def create(
        cls, name: str, task_id: UUID, ctx: CommandContext, namespace: str = DEFAULT_NAMESPACE
    ) -> TaskName:
        """Claim a never-used name; a concurrent claim collides on the id and fails."""
        index_id = cls.id_for(name, namespace)
        return cls._create_with(cls.Created, index_id, ctx, name=name, task_id=task_id)

    def reserve(self, task_id: UUID, ctx: CommandContext) -> None:
        """Claim a released name for a task."""
        if self.task_id is not None and self.task_id != task_id:
            raise TaskNameTakenError(self.name)
        if self.task_id is None:
            self._record(self.Reserved, ctx, task_id=task_id)

    def release(self, ctx: CommandContext) -> None:
        """Free the name after a rename or delete."""
        if self.task_id is not None:
            self._record(self.Released, ctx)
