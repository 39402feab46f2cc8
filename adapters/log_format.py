"""What a log line says: the fields every record carries, as JSON lines or as text."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

from adapters.tracing import current_trace_ids
from application.log_context import LOG_FIELDS, current_log_context

LogFormat = Literal["json", "text"]
# The fields of a JSON line, first the fixed ones (renamed from the LogRecord's names),
# then the context's where known, then whatever a call passed in `extra=`.
JSON_FIELDS = ["time", "level", "name", "message", "process_kind", "process", "host"]
RENAMED = {"name": "logger", "process_kind": "process", "process": "pid"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# LogRecord attributes that are never a field of their own in a JSON line.
# asyncio's task name; uvicorn's coloured copy; the mark of the redaction filter's pass.
HIDDEN = ["taskName", "color_message", "_redacted_by"]


class LogFieldsFilter(logging.Filter):
    """Stamps each record with the time, the process kind, the host and the bound context.

    Only ids that are known are set: a line outside any run has no run_id at all.
    """

    def __init__(self, process_kind: str, host: str | None = None) -> None:
        super().__init__()
        self.process_kind = process_kind
        self.host = host or socket.gethostname()

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields (never overwriting one a call set through `extra=`); keep the record."""
        if not hasattr(record, "time"):
            created = datetime.fromtimestamp(record.created, UTC)
            record.time = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record.level = record.levelname.lower()
        record.process_kind = self.process_kind
        record.host = self.host
        if record.process is None:
            record.process = os.getpid()
        for name, value in current_log_context().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if not hasattr(record, "trace_id") and (ids := current_trace_ids()) is not None:
            record.trace_id, record.span_id = ids  # the span current where the line is logged
        return True


class JsonLineFormatter(OrjsonFormatter):
    """One JSON object per line: python-json-logger with our field names."""

    def __init__(self) -> None:
        super().__init__(
            JSON_FIELDS,
            rename_fields=RENAMED,
            reserved_attrs=[*RESERVED_ATTRS, *HIDDEN],
        )

    def format(self, record: logging.LogRecord) -> str:
        """The line; a traceback comes from `exc_text`, which the redaction filter cleaned."""
        if record.exc_info and record.exc_text:
            # The library would format the exception again from exc_info, unmasked.
            exc_info, record.exc_info = record.exc_info, None
            try:
                return super().format(record)
            finally:
                record.exc_info = exc_info
        return super().format(record)


def make_formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of `[observability] log_format`."""
    if log_format == "json":
        return JsonLineFormatter()
    return logging.Formatter(TEXT_FORMAT)


def context_fields(record: logging.LogRecord) -> dict[str, str | int]:
    """The context ids a stamped record carries."""
    return {name: getattr(record, name) for name in LOG_FIELDS if hasattr(record, name)}
