"""Who is calling: the authenticated principal behind a request, and the roles there are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

# Least to most rights; `worker` stands apart (HTTP workers: register and heartbeat).
ROLES: tuple[str, ...] = ("viewer", "operator", "editor", "admin", "worker")
PrincipalKind = Literal["key", "jwt", "anonymous", "token"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: how it proved who it is, its name and its role."""

    kind: PrincipalKind
    name: str
    role: str
    key_id: UUID | None = None
    namespaces: frozenset[str] | None = None  # where it may see and act; None: everywhere

    def sees(self, namespace: str) -> bool:
        """Whether the principal may see and act in `namespace`."""
        return self.namespaces is None or namespace in self.namespaces

    @property
    def actor(self) -> str:
        """The name recorded as the actor of the events it causes."""
        if self.kind == "anonymous":
            return f"anonymous@{self.name}"
        return f"{self.kind}:{self.name}"


ANONYMOUS_LOOPBACK = Principal(kind="anonymous", name="loopback", role="admin")
