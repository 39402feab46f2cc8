"""An audit check on demand: verify a window of the chain, with anchors, as a record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.audit import ChainStore, StoredEventLog, check_anchors, verify_chain

MAX_CHECKED_EVENTS = 1_000_000  # per request: a longer walk belongs to `scheduler audit verify`


def parse_anchor(value: str) -> tuple[int, bytes]:
    """POSITION:HEX, as `scheduler audit head` prints it.

    Raises:
        ValueError: not a position and a 32-byte hash in hex.
    """
    position, _, digest = value.partition(":")
    try:
        parsed = (int(position), bytes.fromhex(digest))
    except ValueError:
        parsed = (0, b"")
    if parsed[0] < 1 or len(parsed[1]) != 32:
        raise ValueError(f"{value!r} is not POSITION:HASH (from scheduler audit head)")
    return parsed


class CheckTooLongError(ValueError):
    """The window holds more events than one check on demand walks."""


@dataclass(frozen=True)
class AuditCheck:
    """Verify the chain between two positions (recomputing every link) and check anchors."""

    log: StoredEventLog
    store: ChainStore

    def head(self) -> str | None:
        """The chain's head as `scheduler audit head` prints it (None: nothing chained)."""
        link = self.store.head()
        return f"{link.position}:{link.hash.hex()}" if link else None

    def verify(
        self, start: int | None, until: int | None, anchors: dict[int, bytes]
    ) -> dict[str, Any]:
        """Recompute the links from `start` to `until` (default: the whole log).

        Raises:
            CheckTooLongError: more than MAX_CHECKED_EVENTS positions in the window.
        """
        end = until if until is not None else (self.log.max_notification_id() or 0)
        if end - (start or 1) + 1 > MAX_CHECKED_EVENTS:
            raise CheckTooLongError(
                f"at most {MAX_CHECKED_EVENTS:,} events per check: give from_position"
                f" (at least {max(end - MAX_CHECKED_EVENTS + 1, 1)}) or run scheduler audit verify"
            )
        anchor = self.store.last_before(start) if start else None
        result = verify_chain(self.log, self.store, anchor, until, checkpoints=list(anchors))
        broken = result.broken or check_anchors(result, anchors)
        found = None if broken is None else {"position": broken.position, "reason": broken.reason}
        return {
            "intact": broken is None,
            "verified": result.verified,
            "from_position": start or 1,
            "last_position": result.last_position,
            "head": f"{result.last_position}:{result.last_hash.hex()}" if result.verified else None,
            "unchained": result.unchained,
            "broken": found,
        }
