"""Log records leave the process with secrets masked, whichever code logged them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from domain.secrets import MASK, is_secret_name, mask_text, redact

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}
# Loggers that get handlers of their own (uvicorn's dictConfig), besides the root's.
HANDLED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


class RedactingFilter(logging.Filter):
    """Masks known secret values, URL passwords and `secret_name=value` in every record."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self.known = tuple(dict.fromkeys(v for v in known if v))

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (message, traceback, extra fields); never drop it."""
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
            if name in _STANDARD:
                continue
            if is_secret_name(name):
                setattr(record, name, MASK)
            elif isinstance(value, str):
                setattr(record, name, self._clean(value))
        return True

    def _clean(self, text: str) -> str:
        return redact(mask_text(text), self.known)


def install_redaction(known: Iterable[str] = ()) -> RedactingFilter:
    """Put one redacting filter on every handler of the process's loggers (idempotent)."""
    redacting = RedactingFilter(known)
    for name in HANDLED_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            for existing in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(existing)
            handler.addFilter(redacting)
    return redacting
