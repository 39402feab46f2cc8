"""Log records leave the process with secrets masked, whichever code logged them."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

from application.log_context import LOG_FIELDS
from domain.secrets import MASK, Redactor, is_secret_name, mask_text

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "_redacted_by",
}
# The log context's ids (`principal` is `key:<name>`, which mask_text would take for a secret).
_CONTEXT = frozenset(LOG_FIELDS)
CLEANED = "_redacted_by"  # the filter that cleaned a record (formatters leave it out)
# Loggers that get handlers of their own (uvicorn's dictConfig), besides the root's.
HANDLED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
REMEMBERED = 1_000  # secrets of recent deliveries a worker's logs mask (bounded memory)


class RedactingFilter(logging.Filter):
    """Masks known secret values, URL passwords and `secret_name=value` in every record.

    Known values are the configuration's secrets and, in a worker, those of its recent
    deliveries (a library logging a request URL with a task's params, for one).
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self._known = tuple(dict.fromkeys(v for v in known if v))
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._redactor = Redactor(self._known)

    def remember(self, secrets: Iterable[str]) -> None:
        """Mask these values too from now on (the oldest are forgotten past REMEMBERED)."""
        with self._lock:
            new = [s for s in secrets if s and s not in self._recent]
            if not new:
                return
            for secret in new:
                self._recent[secret] = None
            while len(self._recent) > REMEMBERED:
                self._recent.popitem(last=False)
            self._redactor = Redactor((*self._known, *self._recent))

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (message, traceback, extra fields); never drop it."""
        if getattr(record, CLEANED, None) is self:
            return True  # this filter sits on every handler: one pass per record is enough
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the logging module reports it itself
            return True
        record.msg, record.args = self._clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD:
                setattr(record, name, self._field(name, value))
        setattr(record, CLEANED, self)
        return True

    def _field(self, name: str, value: object) -> object:
        if name in _CONTEXT:  # ids and actor names: only known secret values go
            return self._redactor.apply(value) if isinstance(value, str) else value
        if is_secret_name(name):
            return MASK
        return self._clean(value) if isinstance(value, str) else value

    def _clean(self, text: str) -> str:
        return self._redactor.apply(mask_text(text))


def _installed() -> list[RedactingFilter]:
    return [
        f
        for name in HANDLED_LOGGERS
        for handler in logging.getLogger(name).handlers
        for f in handler.filters
        if isinstance(f, RedactingFilter)
    ]


def install_redaction(known: Iterable[str] = ()) -> RedactingFilter:
    """Put one redacting filter on every handler of the process's loggers (idempotent)."""
    remembered = [s for f in _installed() for s in f._recent]
    redacting = RedactingFilter(known)
    redacting.remember(remembered)
    for name in HANDLED_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            for existing in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(existing)
            handler.addFilter(redacting)
    return redacting


def remember_secrets(secrets: Iterable[str]) -> None:
    """Have the process's logs mask these values (a worker calls it for each delivery)."""
    values = tuple(secrets)
    if values:
        for redacting in dict.fromkeys(_installed()):
            redacting.remember(values)
