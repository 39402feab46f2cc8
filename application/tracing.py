"""The tracing port: spans named by the application, made by an adapter (adapters/tracing.py).

Trace contexts cross processes as W3C `traceparent` strings: in event metadata and in bus
messages. With tracing off the tracer is `NO_TRACER`: callers check `enabled` before any
per-event work, and its spans are one shared object, so nothing is made per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]


class Span(Protocol):
    """One open span."""

    @property
    def traceparent(self) -> str | None:
        """Its W3C trace context, to hand on (None: not traced)."""
        ...

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Record a fact about the work it covers."""
        ...

    def fail(self, message: str) -> None:
        """Mark the work it covers as failed."""
        ...

    def end(self) -> None:
        """Close it (once)."""
        ...


class Tracer(Protocol):
    """Makes spans; a span's parent is a `traceparent`, else the current span, else none."""

    @property
    def enabled(self) -> bool:
        """Whether spans are recorded at all: False means skip the work of making them."""
        ...

    def start(
        self,
        name: str,
        parent: str | None = None,
        attributes: Attributes | None = None,
        links: Sequence[str] = (),
    ) -> Span:
        """Open a span that its caller ends, maybe on another thread (it is not made current)."""
        ...

    def span(
        self,
        name: str,
        parent: str | None = None,
        attributes: Attributes | None = None,
        links: Sequence[str] = (),
    ) -> AbstractContextManager[Span]:
        """A span that is current (the parent of spans made inside it) until the block ends."""
        ...

    def shutdown(self) -> None:
        """Send what is buffered and stop."""
        ...


class _NoSpan:
    """The span of a tracer that records nothing."""

    traceparent = None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Nothing to record."""

    def fail(self, message: str) -> None:
        """Nothing to record."""

    def end(self) -> None:
        """Nothing to close."""


NO_SPAN = _NoSpan()
_NO_SPAN_BLOCK = nullcontext(NO_SPAN)  # reusable: nullcontext keeps no state


class NoTracer:
    """Tracing off: every span is NO_SPAN, made once."""

    enabled = False

    def start(
        self,
        name: str,
        parent: str | None = None,
        attributes: Attributes | None = None,
        links: Sequence[str] = (),
    ) -> Span:
        """NO_SPAN."""
        return NO_SPAN

    def span(
        self,
        name: str,
        parent: str | None = None,
        attributes: Attributes | None = None,
        links: Sequence[str] = (),
    ) -> AbstractContextManager[Span]:
        """A block around NO_SPAN."""
        return _NO_SPAN_BLOCK

    def shutdown(self) -> None:
        """Nothing buffered."""


NO_TRACER = NoTracer()
