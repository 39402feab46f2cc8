"""Keeps the database and bus passwords out of messages, logs and /health."""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LENGTH = 3  # shorter values would blot out ordinary words (and guard nothing)
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by ***, the longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """Another formatter's text (message, arguments, traceback), with the secrets redacted."""

    def __init__(self, inner: logging.Formatter | None, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's text without the secrets."""
        return redact(self.inner.format(record), self.secrets)


def redact_handlers(logger_names: Iterable[str], secrets: Iterable[str]) -> None:
    """Make every handler of these loggers redact, keeping each one's own format."""
    secrets = tuple(secrets)
    for name in logger_names:
        for handler in logging.getLogger(name or None).handlers:
            if not isinstance(handler.formatter, RedactingFormatter):
                handler.setFormatter(RedactingFormatter(handler.formatter, secrets))
