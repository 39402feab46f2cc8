"""Who and why behind a command: carried into every event's metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class CommandContext:
    """The actor, the causal chain and the time a command runs at."""

    actor: str
    now: datetime
    correlation_id: UUID
    causation_id: UUID | None = None

    def metadata(self) -> dict[str, str]:
        """Render the context as the metadata stored on each event."""
        return {
            "actor": self.actor,
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id or self.correlation_id),
        }

    def caused_by(self, causation_id: UUID, actor: str | None = None) -> CommandContext:
        """A follow-up context in the same correlation, caused by an earlier event or command."""
        return CommandContext(
            actor=actor or self.actor,
            now=self.now,
            correlation_id=self.correlation_id,
            causation_id=causation_id,
        )
