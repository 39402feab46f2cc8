"""Shapes stored domain events into JSON-ready records (the API and the CLI show them)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from application.quarantine import UndecodableEvent
from domain.secrets import masked_payload

ENVELOPE = {"originator_id", "originator_version", "timestamp", "metadata", "originator_topic"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def event_record(event: Any, position: int | None) -> dict[str, Any]:
    """An event with its envelope (type, time, version, who, why) and its masked payload.

    A stored event that cannot be decoded is shown with its topic and why it cannot be read.
    """
    if isinstance(event, UndecodableEvent):
        return {
            "position": position,
            "type": event.topic.removeprefix("scheduler:"),
            "originator_id": str(event.originator_id),
            "version": event.originator_version,
            "timestamp": None,
            "actor": None,
            "on_behalf_of": None,
            "correlation_id": None,
            "causation_id": None,
            "traceparent": None,
            "payload": {},
            "error": f"cannot be decoded: {event.error}",
        }
    metadata = getattr(event, "metadata", {}) or {}
    payload = masked_payload(
        {f.name: _jsonable(getattr(event, f.name)) for f in fields(event) if f.name not in ENVELOPE}
    )
    return {
        "position": position,
        "type": get_topic(type(event)).removeprefix("scheduler:"),
        "originator_id": str(event.originator_id),
        "version": event.originator_version,
        "timestamp": event.timestamp,
        "actor": metadata.get("actor"),
        "on_behalf_of": metadata.get("on_behalf_of"),
        "correlation_id": metadata.get("correlation_id"),
        "causation_id": metadata.get("causation_id"),
        "traceparent": metadata.get("traceparent"),
        "payload": payload,
    }
