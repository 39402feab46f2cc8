"""Many bus messages in one Redis Streams entry: one XADD, one ack and one parse for many.

An entry holds either one message as JSON under `m` (the form every release reads) or, under
`b`, a JSON array of up to ENTRY_MAX messages of one type (named once under `t`). The array is
parsed and checked by pydantic in one call; if any item is unreadable the items are read one
by one, so one bad message is buried alone and the others still count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from application.messages import BusMessage, Control, Delivery, Report

ENTRY_MAX = 100  # messages per entry: bounds what one unreadable entry or one read can hold
BY_TYPE: dict[str, type[BusMessage]] = {
    message.TYPE: message for message in (Delivery, Control, Report)
}


@dataclass
class Unpacked:
    """What one entry held: the messages that parse, and why the others did not, each with
    its index in the entry."""

    messages: list[tuple[int, BusMessage]] = field(default_factory=list)
    failures: list[tuple[int, Exception]] = field(default_factory=list)
    count: int = 0  # items in the entry, readable or not


@cache
def _many(message_type: type[BusMessage]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[message_type])  # type: ignore[valid-type]


def entry_fields(messages: Sequence[BusMessage], batched: bool) -> Iterator[dict[str, bytes]]:
    """The entries for messages bound for one stream, in order: consecutive messages of one
    type share an entry when `batched` (else, or alone, each is its own `m` entry)."""
    if not batched:
        for message in messages:
            yield {"m": orjson.dumps(message.to_dict())}
        return
    start = 0
    while start < len(messages):
        kind = type(messages[start])
        end = start + 1
        while end < len(messages) and end - start < ENTRY_MAX and type(messages[end]) is kind:
            end += 1
        if end - start == 1:
            yield {"m": orjson.dumps(messages[start].to_dict())}
        else:
            yield {"t": kind.TYPE.encode(), "b": _many(kind).dump_json(list(messages[start:end]))}
        start = end


def unpack(
    fields: Mapping[bytes, bytes],
    one: Callable[[dict[str, Any]], BusMessage],
    allowed: tuple[type[BusMessage], ...],
) -> Unpacked:
    """The messages of one entry; `one` parses the `m` form, and a batch must hold one of the
    `allowed` types (a delivery on the reports stream is unreadable, not a report)."""
    if b"b" not in fields:
        try:
            return Unpacked([(0, one(orjson.loads(fields[b"m"])))], count=1)
        except Exception as error:  # a missing field, bad JSON or a bad message
            return Unpacked(failures=[(0, error)], count=1)
    try:
        message_type = BY_TYPE[fields[b"t"].decode()]
        raw = fields[b"b"]
    except (KeyError, UnicodeDecodeError) as error:
        return Unpacked(failures=[(0, error)], count=1)
    if message_type not in allowed:
        unexpected = ValueError(f"a {message_type.TYPE} batch is not expected here")
        return Unpacked(failures=[(0, unexpected)], count=1)
    try:
        messages = _many(message_type).validate_json(raw)
        return Unpacked(list(enumerate(messages)), count=len(messages))
    except ValidationError:
        return _one_by_one(message_type, raw)


def _one_by_one(message_type: type[BusMessage], raw: bytes) -> Unpacked:
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return Unpacked(failures=[(0, error)], count=1)
    if not isinstance(items, list):
        return Unpacked(failures=[(0, ValueError("a batch entry is not a JSON array"))], count=1)
    unpacked = Unpacked(count=len(items))
    for index, item in enumerate(items):
        try:
            unpacked.messages.append((index, message_type.model_validate(item)))
        except ValidationError as error:
            unpacked.failures.append((index, error))
    return unpacked


def token(entry_id: str, index: int, count: int, batched: bool) -> str:
    """What acknowledges one message: its entry's id, or for a batch item also which one."""
    return f"{entry_id}#{index}/{count}" if batched else entry_id


class PartialAcks:
    """Which items of batch entries are recorded: an entry is acked once all of them are, so
    a dispatcher that dies halfway leaves the whole entry pending, to be claimed again."""

    def __init__(self) -> None:
        self._seen: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def complete(self, tokens: Iterable[str]) -> list[str]:
        """The entry ids that these tokens finish (each once, in order)."""
        done: dict[str, None] = {}
        with self._lock:
            for each in tokens:
                entry_id, batched, part = each.partition("#")
                if not batched:
                    done[entry_id] = None
                    continue
                index, _, count = part.partition("/")
                seen = self._seen.setdefault(entry_id, set())
                seen.add(int(index))
                if len(seen) >= int(count):
                    done[entry_id] = None
                    del self._seen[entry_id]
        return list(done)


def block_ms(timeout: float) -> int | None:
    """XREAD's BLOCK for a timeout in seconds: BLOCK 0 waits forever, so 0 means do not block."""
    return max(1, int(timeout * 1000)) if timeout > 0 else None
