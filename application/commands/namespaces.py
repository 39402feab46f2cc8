"""Namespace commands: create a namespace, change its limits, and check that one exists."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from application.commands.base import CommandsBase
from application.results import CommandResult
from domain.context import CommandContext
from domain.errors import InvalidFieldError, NamespaceExistsError, NotFoundError
from domain.namespace import DEFAULT_NAMESPACE, checked_namespace
from domain.namespace_limits import LIMIT_FIELDS, Namespace


class NamespaceCommands(CommandsBase):
    """A namespace and its limits change only here."""

    def create_namespace(
        self, name: str, limits: dict[str, Any], ctx: CommandContext
    ) -> CommandResult:
        """Create a namespace.

        Raises:
            NamespaceExistsError: it exists (the default namespace always does).
        """
        if name == DEFAULT_NAMESPACE or self._exists(Namespace.id_for(name)):
            raise NamespaceExistsError(name)
        namespace = Namespace.create(name, limits, ctx)
        try:
            return CommandResult(namespace.id, self._position(self.save(namespace)))
        except IntegrityError:
            raise NamespaceExistsError(name) from None  # created concurrently

    def set_namespace_limits(
        self, name: str, changes: dict[str, Any], ctx: CommandContext
    ) -> CommandResult:
        """Change a namespace's limits (the default one's first change creates its record).

        Raises:
            NotFoundError: no such namespace.
        """
        namespace = self.get_namespace(name)
        if namespace is None:
            if name != DEFAULT_NAMESPACE:
                raise NotFoundError("namespace", name)
            if set(changes) <= set(LIMIT_FIELDS) and all(v is None for v in changes.values()):
                return CommandResult(Namespace.id_for(name), None, created=False)  # unlimited
            namespace = Namespace.create(name, changes, ctx)
        elif not namespace.change_limits(changes, ctx):
            return CommandResult(namespace.id, None, created=False)
        return CommandResult(namespace.id, self._position(self.save(namespace)), created=False)

    def get_namespace(self, name: str) -> Namespace | None:
        """A namespace's record from its events; None for one never created (or default)."""
        checked_namespace(name, "name")
        try:
            found: Any = self.repository.get(Namespace.id_for(name))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Namespace) else None

    def ensure_namespace(self, name: str, field: str = "namespace") -> None:
        """Refuse a namespace that does not exist, naming `field`.

        Raises:
            InvalidFieldError: no such namespace.
        """
        if name != DEFAULT_NAMESPACE and not self._exists(Namespace.id_for(name)):
            raise InvalidFieldError(
                field, f"no namespace {name!r}: create it first (POST /api/namespaces)"
            )
