"""Quarantine: an event a consumer cannot handle isolates its aggregate, never the consumer.

Every consumer of the log (projections, the dispatcher's books, rebuilds, time travel) applies
events one aggregate at a time. When an event of aggregate A fails in consumer C, C records an
entry (C, A) and holds A's later events; every other aggregate goes on. An operator asks for a
retry (re-apply the held events once the cause is fixed) or a release (give up on the events up
to a log position, then apply later ones normally). docs/operations.md has each consumer's rule.
"""

from application.quarantine.entries import (
    HELD,
    MAX_ERROR_CHARS,
    RELEASE,
    RELEASED,
    RESOLVED,
    RETRY,
    QuarantineEntry,
    UndecodableEvent,
    UndecodableEventError,
    aggregate_type_of,
    describe,
    event_topic,
)
from application.quarantine.guarded import AggregateLog, GuardedConsumer
from application.quarantine.ledger import InMemoryQuarantineLedger, QuarantineLedger

__all__ = [
    "HELD",
    "MAX_ERROR_CHARS",
    "RELEASE",
    "RELEASED",
    "RESOLVED",
    "RETRY",
    "AggregateLog",
    "GuardedConsumer",
    "InMemoryQuarantineLedger",
    "QuarantineEntry",
    "QuarantineLedger",
    "UndecodableEvent",
    "UndecodableEventError",
    "aggregate_type_of",
    "describe",
    "event_topic",
]
