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
    # What a caller claimed in X-Actor: recorded beside the actor, never trusted as it.
    on_behalf_of: str | None = None
    # The W3C trace context the command ran in (adapters/tracing.py makes and reads it);
    # the domain only carries the string, so one run's events share one trace id.
    traceparent: str | None = None

    def metadata(self) -> dict[str, str]:
        """Render the context as the metadata stored on each event."""
        metadata = {
            "actor": self.actor,
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id or self.correlation_id),
        }
        if self.on_behalf_of:
            metadata["on_behalf_of"] = self.on_behalf_of
        if self.traceparent:
            metadata["traceparent"] = self.traceparent
        return metadata

    def caused_by(self, causation_id: UUID, actor: str | None = None) -> CommandContext:
        """A follow-up context in the same correlation, caused by an earlier event or command."""
        return CommandContext(
            actor=actor or self.actor,
            now=self.now,
            correlation_id=self.correlation_id,
            causation_id=causation_id,
            on_behalf_of=self.on_behalf_of if actor is None else None,
            traceparent=self.traceparent,
        )
