"""What a delivery says about an event, and how it is signed (HMAC-SHA256 over time and body)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson

from application.quarantine import UndecodableEvent, event_topic
from domain.secrets import masked_payload

ENVELOPE = {"originator_id", "originator_version", "timestamp", "metadata", "originator_topic"}
SIGNATURE_HEADER = "X-Scheduler-Signature"
TIMESTAMP_HEADER = "X-Scheduler-Timestamp"
DELIVERY_HEADER = "X-Scheduler-Delivery"
EVENT_HEADER = "X-Scheduler-Event"


def delivery_id(subscription_id: UUID, generation: int, position: int) -> str:
    """The same for every attempt at one event in one pass, so receivers can dedupe;
    a replay is a new pass and gets new ids."""
    return str(uuid5(NAMESPACE_URL, f"/subscriptions/{subscription_id}/{generation}/{position}"))


def event_body(
    event: Any,
    position: int,
    subscription: tuple[UUID, str],
    delivery: str,
    task_id: str | None,
) -> dict[str, Any]:
    """The JSON of one delivery: the event, masked as every reader sees it, and a Slack `text`."""
    topic = event_topic(event)
    event_type = topic.removeprefix("scheduler:")
    subscription_id, name = subscription
    metadata = getattr(event, "metadata", None) or {}
    data = (
        {}
        if isinstance(event, UndecodableEvent)
        else masked_payload(
            {
                f.name: _plain(getattr(event, f.name))
                for f in fields(event)
                if f.name not in ENVELOPE
            }
        )
    )
    error = data.get("error") if isinstance(data.get("error"), str) else None
    text = f"[scheduler] {event_type} of {event.originator_id}" + (f": {error}" if error else "")
    return {
        "text": text[:3000],  # what Slack and compatible webhooks show
        "delivery_id": delivery,
        "subscription": {"id": str(subscription_id), "name": name},
        "event": {
            "type": event_type,
            "position": position,
            "aggregate_id": str(event.originator_id),
            "version": event.originator_version,
            "timestamp": _plain(getattr(event, "timestamp", None)),
            "actor": metadata.get("actor"),
            "correlation_id": metadata.get("correlation_id"),
            "task_id": task_id,
            "data": data,
        },
    }


def encode(body: dict[str, Any]) -> bytes:
    """The body as sent (and signed)."""
    return orjson.dumps(body)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def headers(
    delivery: str, event_type: str, timestamp: int, secret: str | None, body: bytes
) -> dict[str, str]:
    """The headers of a delivery: its id (also as Idempotency-Key), time and signature."""
    found = {
        DELIVERY_HEADER: delivery,
        "Idempotency-Key": delivery,
        EVENT_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret is not None:
        found[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
