"""Counts a database's connections in pg_stat_activity by application_name, as an operator would."""

from __future__ import annotations

import threading
from collections import Counter
from urllib.parse import unquote, urlsplit

import psycopg

from tests.servers import admin_database_url

BY_NAME = """
SELECT application_name, count(*) AS n FROM pg_stat_activity
WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'
GROUP BY application_name
"""


def database_name(url: str) -> str:
    """The database a URL names."""
    return unquote(urlsplit(url).path.removeprefix("/"))


class ConnectionSampler:
    """Polls pg_stat_activity in a thread and keeps each application_name's peak count."""

    def __init__(self, url: str, admin_url: str | None = None, interval: float = 0.05) -> None:
        self._database = database_name(url)
        self._admin_url = admin_url or admin_database_url()
        self._interval = interval
        self.peaks: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: psycopg.Connection | None = None

    def now(self) -> dict[str, int]:
        """Connections per application_name at this moment."""
        assert self._connection is not None
        rows = self._connection.execute(BY_NAME, (self._database,)).fetchall()
        return {name: n for name, n in rows}

    def reset(self) -> None:
        """Forget the peaks seen so far."""
        self.peaks.clear()

    def __enter__(self) -> ConnectionSampler:
        self._connection = psycopg.connect(self._admin_url, autocommit=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._connection is not None:
            self._connection.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for name, n in self.now().items():
                self.peaks[name] = max(self.peaks[name], n)
