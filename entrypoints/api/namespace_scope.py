"""Which namespaces a request sees: `?namespace=`, and the namespaces of the caller's key.

A key (or a JWT's `namespaces` claim) scoped to namespaces sees and acts only there: a
resource of another namespace answers 404, as if it did not exist (its existence does not
leak), and creating in another namespace is a 403 naming it (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request

from domain.errors import InvalidFieldError, NotFoundError
from domain.namespace import (
    DEFAULT_NAMESPACE,
    NAMESPACE_PATTERN,
    NAMESPACE_RULE,
    covers,
    namespace_of,
)
from domain.principal import Principal
from entrypoints.api.permissions import PrincipalDep, count_forbidden

NamespaceQuery = Annotated[
    str | None,
    Query(
        max_length=63,
        pattern=NAMESPACE_PATTERN.pattern,
        description=f"A namespace ({NAMESPACE_RULE}): lists show only its items, and a task "
        "name in the path is looked up there (default: `default`, or the one namespace the "
        "caller's key is scoped to). Numbers and UUIDs name tasks in every namespace.",
    ),
]


@dataclass(frozen=True)
class NamespaceScope:
    """The namespace a request names (if any) and the ones its caller may see (None: all)."""

    requested: str | None
    visible: frozenset[str] | None
    principal: Principal

    @property
    def name_namespace(self) -> str:
        """Where a task name in the path is looked up."""
        if self.requested is not None:
            return self.requested
        if self.visible is not None and len(self.visible) == 1:
            return next(iter(self.visible))  # a key of one namespace means it
        return DEFAULT_NAMESPACE

    def sees(self, namespace: str) -> bool:
        """Whether the caller may see `namespace` (and it is the one asked for, if any)."""
        if self.requested is not None and namespace != self.requested:
            return False
        return self.visible is None or namespace in self.visible

    @property
    def narrowed(self) -> bool:
        """Whether a resource must be checked at all (a scoped key, or `?namespace=`)."""
        return self.visible is not None or self.requested is not None

    def within(self, namespace: str) -> bool:
        """Whether the caller's key covers `namespace` (whatever `?namespace=` says)."""
        return self.visible is None or namespace in self.visible

    def ensure_asked_among(self, namespaces: list[str], field: str) -> None:
        """422 when `?namespace=` names a namespace the body's list does not cover."""
        if self.requested is not None and not covers(namespaces, self.requested):
            raise InvalidFieldError(
                field, f"{namespaces}, but the query asks for namespace {self.requested!r}"
            )

    def ensure_asked(self, namespace: str, field: str = "namespace") -> None:
        """422 when `?namespace=` names another namespace than the body does (never ignored).

        Raises:
            InvalidFieldError: naming `field`.
        """
        if self.requested is not None and self.requested != namespace:
            raise InvalidFieldError(
                field, f"{namespace!r}, but the query asks for namespace {self.requested!r}"
            )

    def listed(self) -> list[str] | None:
        """The namespaces a list shows (None: every one); [] when the caller sees none asked."""
        if self.requested is not None:
            return [self.requested] if self.sees(self.requested) else []
        return None if self.visible is None else sorted(self.visible)

    def ensure_sees(self, namespace: str, kind: str, ref: object) -> None:
        """404 for a resource of a namespace the caller may not see (its existence is hidden).

        Raises:
            NotFoundError: the caller's key is not scoped to `namespace`.
        """
        if not self.sees(namespace):
            raise NotFoundError(kind, ref)

    def ensure_resource(self, resource: dict[str, Any], kind: str, ref: object) -> None:
        """404 unless the caller sees the resource's `namespace`."""
        self.ensure_sees(namespace_of(resource), kind, ref)

    def ensure_worker(self, worker: dict[str, Any], ref: object) -> None:
        """404 unless the worker serves a namespace the caller sees (or every namespace)."""
        served = worker.get("namespaces") or [DEFAULT_NAMESPACE]
        if self.requested is not None and not covers(served, self.requested):
            raise NotFoundError("worker", ref)
        if self.visible is not None and not any(covers(served, ns) for ns in self.visible):
            raise NotFoundError("worker", ref)

    def ensure_may_act(self, request: Request, namespace: str, what: str) -> None:
        """403 naming the namespace when the caller's key is not scoped to it.

        Raises:
            HTTPException: 403.
        """
        if self.visible is None or namespace in self.visible:
            return
        count_forbidden(request)
        shown = ", ".join(sorted(self.visible or ())) or "none"
        raise HTTPException(
            status_code=403,
            detail=f"forbidden: {what} in namespace {namespace!r}; {self.principal.actor} "
            f"is scoped to the namespaces {shown}",
        )


def namespace_scope(principal: PrincipalDep, namespace: NamespaceQuery = None) -> NamespaceScope:
    """The request's namespace scope."""
    return NamespaceScope(namespace, principal.namespaces, principal)


ScopeDep = Annotated[NamespaceScope, Depends(namespace_scope)]


def every_namespace(request: Request, principal: PrincipalDep) -> None:
    """Refuse (403) a key scoped to namespaces on a route that spans them all (the log).

    Raises:
        HTTPException: 403, for a scoped key.
    """
    if principal.namespaces is not None:
        count_forbidden(request)
        raise HTTPException(
            status_code=403,
            detail=f"forbidden: {request.url.path} spans every namespace; "
            f"{principal.actor} is scoped to the namespaces "
            f"{', '.join(sorted(principal.namespaces))}",
        )


EVERY_NAMESPACE = [Depends(every_namespace)]  # a route's `dependencies`
