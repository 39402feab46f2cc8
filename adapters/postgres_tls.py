"""eventsourcing's PostgreSQL factory, also passing libpq's TLS options to its connections."""

from __future__ import annotations

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType

# The env keys Settings.eventstore_env() renders, and the libpq options they become.
TLS_OPTIONS = {
    "POSTGRES_SSLMODE": "sslmode",
    "POSTGRES_SSLROOTCERT": "sslrootcert",
    "POSTGRES_SSLCERT": "sslcert",
    "POSTGRES_SSLKEY": "sslkey",
}


class TlsPostgresFactory(PostgresFactory):
    """The library's datastore takes no TLS options: add them before its pool connects."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        options = {name: self.env.get(key) for key, name in TLS_OPTIONS.items()}
        # The pool is created closed (open=False), so no connection has been made yet.
        self.datastore.pool.kwargs.update({k: v for k, v in options.items() if v})
