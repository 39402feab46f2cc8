"""Read-your-writes: answers from the views once they caught up, honest answers when not."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from fastapi import HTTPException, Response

from application.quarantine import QuarantineLedger
from domain.errors import NotFoundError
from entrypoints.api.prefer import MINIMAL, wants_fresh_views
from projections.waiter import PositionWaiter

if TYPE_CHECKING:
    from adapters.postgres.read_route import ReadRoute

logger = logging.getLogger(__name__)

Lookup = Callable[[UUID], dict[str, Any] | None]  # a resource by id, None when unknown


def mark_stale(response: Response) -> None:
    """Say that the answer is older than the command it follows (a view is behind)."""
    response.headers["X-View-Stale"] = "true"


class Views:
    """The read views of this process: how far they are, and what they hold in quarantine.

    With a read replica (`route`), a position is reached once the primary's views have it
    and then the replica has replayed their tracking rows; a replica that does not get
    there within the same bound pins the request's reads to the primary instead.
    """

    def __init__(
        self,
        waiter: PositionWaiter,
        names: Sequence[str],
        timeout_seconds: float,
        head: Callable[[], int],
        quarantine: QuarantineLedger,
        saved_topics: Callable[[int], frozenset[str] | None] = lambda _position: None,
        route: ReadRoute | None = None,
    ) -> None:
        self._route = route  # where this request reads, when a replica is configured
        self._waiter = waiter
        self._saved_topics = saved_topics  # what this process's save at a position stored
        self._names = tuple(names)
        self._timeout = timeout_seconds  # [api] read_wait_timeout_seconds
        self._head = head
        self._quarantine = quarantine

    def wait(self, response: Response, position: int | None) -> bool:
        """Wait (bounded) until the views that handle what the command saved have applied
        `position`.

        When they have not in time, or the request said `Prefer: return=minimal`, the answer
        says so with `X-View-Stale: true`: the command was saved at `X-Log-Position` all the
        same (docs/api.md).
        """
        if position is None:
            return True
        response.headers["X-Log-Position"] = str(position)
        if not wants_fresh_views():
            response.headers["Preference-Applied"] = MINIMAL
            mark_stale(response)
            return False
        names = self._waiter.views_for(self._saved_topics(position), self._names)
        try:
            reached = self._reach(position, names)
        except Exception:  # the command is saved; only the wait for the views failed
            logger.warning("could not wait for the views", exc_info=True)
            reached = False
        if not reached:
            mark_stale(response)
        return reached

    def settle(self, position: int | None) -> bool:
        """Wait (bounded) until every view has applied `position`; False when not in time."""
        if position is None:
            return True
        try:
            return self._reach(position, self._names)
        except Exception:  # the command is saved; only the wait for the views failed
            logger.warning("could not wait for the views", exc_info=True)
            return False

    def _reach(self, position: int, names: Sequence[str]) -> bool:
        """Wait (bounded) for the primary's views, then for the replica to replay them; the
        primary serves this request's reads when the replica is not there in time."""
        deadline = time.monotonic() + self._timeout
        reached = self._waiter.wait(position, names, self._timeout)
        if self._route is not None:
            remaining = deadline - time.monotonic()
            if not reached or not self._route.replica_reached(position, names, remaining):
                # Fresher than the replica, whatever it holds; later requests too, until
                # the replica shows `position`.
                self._route.use_primary(position, names)
        return reached

    def applied(self) -> int:
        """The position every view has applied where this request reads (0 when the
        positions cannot be read)."""
        try:
            positions = self._route.positions() if self._route else self._waiter.positions()
        except Exception:  # a page still renders when the tracking table cannot be read
            logger.warning("could not read the views' positions", exc_info=True)
            return 0
        return min((positions.get(name, 0) for name in self._names), default=0)

    def ensure(self, min_position: int | None) -> None:
        """Honour ?min_position: wait (bounded) for the views, else answer 503 to retry."""
        if min_position is None:
            return
        head = self._head()
        if min_position > head:
            raise HTTPException(
                status_code=422,
                detail=f"min_position {min_position} is beyond the log head ({head})",
            )
        if not self._reach(min_position, self._names):
            raise HTTPException(
                status_code=503,
                detail=f"the views have not reached log position {min_position} yet; retry",
                headers={"Retry-After": "1"},
            )

    def after_command(
        self,
        response: Response,
        kind: str,
        aggregate_id: UUID,
        position: int | None,
        from_view: Lookup,
        from_log: Lookup,
    ) -> dict[str, Any]:
        """A resource after a command: from its view once caught up, else from its events.

        A command whose events were saved never answers 404 or 5xx because a view is behind;
        the answer then carries `X-View-Stale: true`.
        """
        resource = None
        if self.wait(response, position):
            try:
                resource = from_view(aggregate_id)
            except Exception:  # saved all the same: the log answers for the view
                logger.warning(
                    "view unreadable after a command; answering from the log", exc_info=True
                )
        if resource is None:
            mark_stale(response)
            resource = from_log(aggregate_id)
            if resource is None:  # the log has nothing either: nothing was ever saved for it
                raise NotFoundError(kind, aggregate_id)
        resource["quarantine"] = self.quarantine_of(aggregate_id)
        return resource

    def view_or_log(
        self, response: Response, aggregate_id: UUID, from_view: Lookup, from_log: Lookup
    ) -> dict[str, Any] | None:
        """A resource from its view; from its events (marked stale) when the view lacks it or
        cannot be read; None when neither knows it."""
        try:
            resource = from_view(aggregate_id)
        except Exception:
            logger.warning("view unreadable; answering from the log", exc_info=True)
            resource = None
        if resource is None:
            resource = from_log(aggregate_id)
            if resource is not None:
                mark_stale(response)
        return resource

    def quarantine_of(self, aggregate_id: UUID) -> list[dict[str, Any]] | None:
        """Where an aggregate is held, if anywhere (None when nowhere, or unknown)."""
        try:
            entries = self._quarantine.entries(aggregate_ids=[str(aggregate_id)])
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
