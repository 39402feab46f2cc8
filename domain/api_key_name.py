"""The ApiKeyName index aggregate: key names are unique, and never reused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext


class ApiKeyName(SchedulerAggregate):
    """One per key name ever used. A revoked key keeps its name, so that `key:NAME` in the
    audit trail always names one key."""

    TOPIC = "scheduler:ApiKeyName"

    class Created(SchedulerAggregate.Created):
        TOPIC = "scheduler:ApiKeyName.Created"
        name: str
        key_id: UUID

        def apply(self, aggregate: ApiKeyName) -> None:
            aggregate.name = self.name
            aggregate.key_id = self.key_id

    if TYPE_CHECKING:
        name: str
        key_id: UUID

    @staticmethod
    def id_for(name: str) -> UUID:
        """The deterministic id of a key name's index aggregate."""
        return uuid5(NAMESPACE_URL, f"/api-key-names/{name}")

    @classmethod
    def create(cls, name: str, key_id: UUID, ctx: CommandContext) -> Self:
        """Claim a name; a name used before collides on the id and the save fails."""
        return cls._create_with(cls.Created, cls.id_for(name), ctx, name=name, key_id=key_id)
