"""Typed, frozen configuration: a TOML file, ${VAR} substitution, SCHEDULER_* overrides."""

from __future__ import annotations

import difflib
import re
import tomllib
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.secrets import is_secret_name, mask_text, mask_url_passwords, masked_config
from entrypoints.networks import parse_networks

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pydantic import ValidationInfo
    from pydantic_core import ErrorDetails

CONFIG_ENV = "SCHEDULER_CONFIG"
SECRET_KEY_ENV = "SCHEDULER_SECRET_KEY"  # the keys of secret values and `enc:` config values
ENCRYPTED_PREFIX = "enc:"
ENV_PREFIX = "SCHEDULER_"
NO_FILE = "(no config file)"
POSTGRES_SCHEMES = ("postgresql", "postgres")
# eventsourcing's PostgresFactory on the process's one pool (named by topic, built lazily).
EVENT_STORE_FACTORY = "adapters.event_store:SchedulerPostgresFactory"
QUEUE_SCHEMES = {"redis": ("redis", "rediss", "unix"), "rabbitmq": ("amqp", "amqps")}
DATABASE_URL_FORMS = (
    "sqlite:///relative/path, sqlite:////absolute/path or postgresql://user:password@host:port/db"
)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# libpq's TLS options, taken from [database] keys or the URL's query string.
POSTGRES_TLS_KEYS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
TLS_SCHEMES = frozenset({"rediss", "amqps"})
EXECUTOR_NAMES = ("shell", "python", "http", "callable")
ExecutorName = Literal["shell", "python", "http", "callable"]
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$")


class ConfigError(Exception):
    """The configuration cannot be used; one line per problem, each naming its key."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(f"config error in {source}: {p}" for p in self.problems))


def _blank_to_none(value: Any) -> Any:
    # Lets files write `url = "${MQ_URL:-}"` to mean "unset unless the environment gives one".
    return None if isinstance(value, str) and not value.strip() else value


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatabaseSettings(_Section):
    """`[database]`: the event store and the read tables share one database."""

    url: str = Field(default="sqlite:///./var/scheduler.db", repr=False)
    # PostgreSQL connections per process, all included: one session connection (LISTEN and
    # advisory locks) plus a pool of pool_size - 1 shared by the event store and the views.
    pool_size: int = Field(default=5, ge=2)
    # The longest a request (or a background round) waits for a pooled connection, in all.
    connection_timeout_seconds: float = Field(default=5.0, gt=0)
    # At least 1: eventsourcing reads 0 as "wait forever" for the events-table lock.
    lock_timeout_seconds: int = Field(default=5, ge=1)
    # False for a locked-down application role (docs/audit.md): the event store's tables and
    # indexes are then created by the owner (`scheduler migrate`), never by the application.
    create_event_tables: bool = True
    # TLS to PostgreSQL (libpq's names and meanings); also accepted in the URL's query string.
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = (
        None
    )
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None

    _blank = field_validator("sslrootcert", "sslcert", "sslkey", mode="before")(_blank_to_none)

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if database_kind(url) == "sqlite":
            sqlite_path(url)
        else:
            postgres_conninfo(url)
        return url

    @model_validator(mode="after")
    def _check_tls(self) -> DatabaseSettings:
        given = {k: getattr(self, k) for k in POSTGRES_TLS_KEYS if getattr(self, k) is not None}
        if not given:
            return self
        if database_kind(self.url) == "sqlite":
            raise ValueError(f"{', '.join(given)} apply to PostgreSQL only, not to SQLite")
        in_url = postgres_conninfo(self.url)
        for key, value in given.items():
            if key in in_url and in_url[key] != value:
                raise ValueError(f"{key} is given both in url and as a key, with different values")
        return self


class MessageQueueSettings(_Section):
    """`[message_queue]`: `url` wins; the seed's host/port/username/password build one."""

    type: Literal["memory", "redis", "rabbitmq"] = "memory"
    url: str | None = Field(default=None, repr=False)
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    # Streams, queues and keys are named under it, so deployments can share one broker.
    prefix: str = Field(default="scheduler", pattern=r"^[A-Za-z0-9_.:-]+$")
    # TLS (rediss://, amqps://): the URL's scheme turns it on; `tls` does for host/port.
    tls: bool = False
    tls_ca_file: str | None = None  # CA bundle to verify the broker (default: the system's)
    tls_cert_file: str | None = None  # client certificate, for brokers that require one
    tls_key_file: str | None = None  # its private key, unless inside tls_cert_file

    _blank = field_validator(
        "url",
        "host",
        "username",
        "password",
        "tls_ca_file",
        "tls_cert_file",
        "tls_key_file",
        mode="before",
    )(_blank_to_none)

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None, info: ValidationInfo) -> str | None:
        schemes = QUEUE_SCHEMES.get(info.data.get("type", ""))
        if url is not None and schemes and _scheme(url) not in schemes:
            forms = " or ".join(f"{s}://" for s in schemes)
            raise ValueError(f"a {info.data['type']} URL must start with {forms}")
        if url is not None and _scheme(url) != "unix":
            _check_netloc(url, "message queue")
        return url

    @model_validator(mode="after")
    def _check_credentials_and_tls(self) -> MessageQueueSettings:
        if self.url is not None and _has_password(self.url) and self.password is not None:
            raise ValueError("the password is given both in url and in password: keep one")
        if self.url is not None and _has_user(self.url) and self.username is not None:
            raise ValueError("the user is given both in url and in username: keep one")
        tls_files = [
            k for k in ("tls_ca_file", "tls_cert_file", "tls_key_file") if getattr(self, k)
        ]
        if self.tls_key_file and not self.tls_cert_file:
            raise ValueError("tls_key_file needs tls_cert_file (the certificate it belongs to)")
        if self.type == "memory" or (not tls_files and not self.tls):
            return self
        if self.url is not None and _scheme(self.url) not in TLS_SCHEMES:
            what = ", ".join(tls_files) or "tls = true"
            raise ValueError(
                f"{what} needs a TLS URL (rediss:// or amqps://), but url is {_scheme(self.url)}://"
            )
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether the bus connection is encrypted."""
        url = self.effective_url
        return url is not None and _scheme(url) in TLS_SCHEMES

    @property
    def effective_url(self) -> str | None:
        """The broker URL to connect to, with username/password filled in; None in-process."""
        if self.type == "memory":
            return None
        credentials = ""
        if self.username is not None or self.password is not None:
            user, password = (
                quote(self.username or "", safe=""),
                quote(self.password or "", safe=""),
            )
            credentials = f"{user}:{password}@" if password else f"{user}@"
        if self.url is not None:
            return _with_credentials(self.url, credentials) if credentials else self.url
        host = self.host or "127.0.0.1"
        if self.type == "redis":
            scheme = "rediss" if self.tls else "redis"
            return f"{scheme}://{credentials}{host}:{self.port or 6379}/0"
        scheme = "amqps" if self.tls else "amqp"
        return f"{scheme}://{credentials}{host}:{self.port or (5671 if self.tls else 5672)}/"


class ApiSettings(_Section):
    """`[api]`: the HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    read_wait_timeout_seconds: float = Field(default=2.0, ge=0)
    # Browser origins allowed to call the API (scheme://host[:port]), or "*" for any.
    cors_origins: tuple[str, ...] = ()
    # Client networks allowed to reach the API at all (CIDRs); empty lets everyone in.
    ip_allowlist: tuple[str, ...] = ()
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (CIDRs).
    trusted_proxies: tuple[str, ...] = ()
    # Token buckets per client address and per principal; 0 turns the limit off.
    rate_limit_per_second: float = Field(default=100.0, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # Failed authentications (401) per client address, refused with 429 beyond this.
    auth_failure_limit_per_minute: float = Field(default=10.0, ge=0)
    auth_failure_burst: int = Field(default=10, ge=1)

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for index, origin in enumerate(origins):
            if origin == "*":
                continue
            if not _ORIGIN.match(origin):
                scheme, sep, rest = origin.partition("://")
                meant = f"{scheme}://{rest.partition('/')[0]}" if sep and "/" in rest else None
                hint = f": did you mean {meant!r}?" if meant and _ORIGIN.match(meant) else ""
                raise ValueError(
                    f"[{index}] {origin!r} is not an origin (scheme://host[:port], no path, "
                    f"e.g. https://app.example.com){hint}"
                )
        return origins

    @field_validator("ip_allowlist", "trusted_proxies")
    @classmethod
    def _check_networks(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(values)
        return values


class DispatcherSettings(_Section):
    """`[dispatcher]`: turning due runs into assignments."""

    max_workers: int = Field(default=50, ge=1)
    task_timeout_seconds: int = Field(default=3600, ge=1)
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    assign_batch_size: int = Field(default=200, ge=1)
    name: str | None = None
    # A worker silent for this many heartbeat intervals is lost (at least 1.2, so ordinary
    # jitter cannot expire a lease): 1.5 × 5 s keeps recovery
    # of a dead worker under 10 s while tolerating one late heartbeat.
    lease_heartbeats: float = Field(default=1.5, ge=1.2, le=100)
    deadline_grace_seconds: float = Field(default=30.0, ge=0)
    republish_after_seconds: float = Field(default=10.0, gt=0)
    max_recoveries: int = Field(default=3, ge=0)
    # A dispatcher that has not beaten (it does every second) for this long is dead or stuck,
    # as /health says in every process.
    stale_after_seconds: float = Field(default=15.0, ge=2, le=3600)

    _blank = field_validator("name", mode="before")(_blank_to_none)


class WorkerSettings(_Section):
    """`[worker]`: one worker process; `name` None means a host-derived name at runtime."""

    name: str | None = None
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0)
    max_concurrent_tasks: int = Field(default=5, ge=1)
    # What this worker offers; None: every allowed executor.
    executors: tuple[ExecutorName, ...] | None = Field(default=None, min_length=1)
    # What this worker will ever run: a delivery for another executor fails at once.
    allowed_executors: tuple[ExecutorName, ...] = Field(default=EXECUTOR_NAMES, min_length=1)
    # The user task processes run as (a name or a uid). Unset on a root worker: `nobody`.
    run_as_user: str | None = None
    # Module prefixes the `callable` executor may import from (none by default).
    callable_modules: tuple[str, ...] = ()
    queues: tuple[str, ...] = Field(default=("default",), min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    output_tail_bytes: int = Field(default=65536, ge=0)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)

    _blank = field_validator("name", "run_as_user", mode="before")(_blank_to_none)

    @field_validator("run_as_user", mode="before")
    @classmethod
    def _user_text(cls, value: Any) -> Any:
        # A uid written as a TOML integer means the same as the same digits in a string.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("run_as_user")
    @classmethod
    def _check_user(cls, value: str | None) -> str | None:
        if value is not None and value != "$worker" and not _USER.match(value):
            raise ValueError(f"{value!r} is not a user name or a uid")
        return value

    @field_validator("callable_modules")
    @classmethod
    def _check_modules(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for index, value in enumerate(values):
            if not _MODULE.match(value):
                raise ValueError(
                    f"[{index}] {value!r} is not a module name: dotted identifiers, "
                    "e.g. myapp.jobs (submodules are included)"
                )
        return values

    @model_validator(mode="after")
    def _check_executors(self) -> WorkerSettings:
        refused = [e for e in self.executors or () if e not in self.allowed_executors]
        if refused:
            raise ValueError(
                f"executors lists {', '.join(refused)}, which allowed_executors "
                f"({', '.join(self.allowed_executors)}) does not allow"
            )
        return self

    @property
    def offered_executors(self) -> tuple[str, ...]:
        """The executors this worker advertises: `executors`, else every allowed one (callable
        only with callable_modules: without them it could call nothing)."""
        if self.executors:
            return tuple(self.executors)
        return tuple(e for e in self.allowed_executors if e != "callable" or self.callable_modules)


class ProjectionsSettings(_Section):
    """`[projections]`: the projectors that build the read tables."""

    batch_size: int = Field(default=500, ge=1)
    poll_interval_seconds: float = Field(default=1.0, gt=0)


class ObservabilitySettings(_Section):
    """`[observability]`: logs, metrics and tracing."""

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    metrics_enabled: bool = True
    tracing_enabled: bool = False
    # Processes without the HTTP API (dispatcher, worker, projector) serve /metrics here;
    # 0 turns that off. The API serves /metrics on its own port.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # A bearer token that reads /metrics (and nothing else), for Prometheus; None: only a
    # credential of the API does (the metrics port of other processes: only from loopback).
    metrics_token: str | None = Field(default=None, repr=False)

    _blank = field_validator("metrics_token", mode="before")(_blank_to_none)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key as long as the hash, 256 bits


class AuthSettings(_Section):
    """`[auth]`: who may call the API (docs/security.md)."""

    # Lets callers on 127.0.0.1/::1 act as an anonymous admin: true in development.toml only.
    allow_anonymous_loopback: bool = False
    jwt_secret: str | None = Field(default=None, repr=False)  # HS256
    jwt_public_key_file: Path | None = None  # PEM: RSA (RS256) or EC P-256 (ES256)
    jwt_jwks_file: Path | None = None  # a JWKS of RSA / EC P-256 keys, chosen by `kid`
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_role_claim: str = Field(default="role", min_length=1)
    jwt_leeway_seconds: float = Field(default=0.0, ge=0, le=300)  # clock skew allowed

    _blank = field_validator(
        "jwt_secret",
        "jwt_public_key_file",
        "jwt_jwks_file",
        "jwt_issuer",
        "jwt_audience",
        mode="before",
    )(_blank_to_none)

    @field_validator("jwt_secret")
    @classmethod
    def _long_secret(cls, secret: str | None) -> str | None:
        if secret is not None and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_JWT_SECRET_BYTES} bytes for HS256 (RFC 7518); "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return secret

    @property
    def jwt_enabled(self) -> bool:
        """Whether any JWT verification key is configured."""
        return bool(self.jwt_secret or self.jwt_public_key_file or self.jwt_jwks_file)


class SecretsSettings(_Section):
    """`[secrets]`: the keys that encrypt secret values (docs/security.md#secrets)."""

    # From SCHEDULER_SECRET_KEY only, never from the file: a key beside the values it
    # protects protects nothing. Comma-separated base64 keys of 32 bytes, the newest first.
    keys: str | None = Field(default=None, repr=False)
    # Development only: without SCHEDULER_SECRET_KEY, a key is made once into this file
    # (mode 0600). Unset, secret values are refused until a key is configured.
    development_key_file: str | None = None

    _blank = field_validator("keys", "development_key_file", mode="before")(_blank_to_none)

    @field_validator("keys")
    @classmethod
    def _keys_parse(cls, keys: str | None) -> str | None:
        if keys is not None:
            from adapters.aes_secret_box import parse_keys

            parse_keys(keys)  # its error names the key by its number, never its value
        return keys


class Settings(_Section):
    """The whole configuration of one process, built once by the composition root."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    message_queue: MessageQueueSettings = Field(default_factory=MessageQueueSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    dispatcher: DispatcherSettings = Field(default_factory=DispatcherSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    projections: ProjectionsSettings = Field(default_factory=ProjectionsSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], config_path: str | Path | None = None
    ) -> Settings:
        """Same as `load_settings(config_path, environ)`."""
        return load_settings(config_path, environ)

    @property
    def database_kind(self) -> Literal["sqlite", "postgres"]:
        """Which store `database.url` names."""
        return database_kind(self.database.url)

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file; ValueError for a PostgreSQL URL."""
        return sqlite_path(self.database.url)

    @property
    def postgres_conninfo(self) -> dict[str, Any]:
        """dbname, host, port, user, password and any TLS options; ValueError for SQLite."""
        info = postgres_conninfo(self.database.url)
        for key in POSTGRES_TLS_KEYS:
            value = getattr(self.database, key)
            if value is not None:
                info[key] = value
        return info

    @property
    def connection_secrets(self) -> tuple[str, ...]:
        """The database and bus passwords: never to be shown in a message, a log or /health."""
        found: list[str] = []
        if self.database_kind == "postgres":
            found.append(self.postgres_conninfo["password"])
        queue = self.message_queue
        if queue.password:
            found.append(queue.password)
        for url in (queue.url, queue.effective_url):
            if url and _scheme(url) != "unix":
                with suppress(ValueError):
                    found.append(unquote(urlsplit(url).password or ""))
        forms = {form for secret in found if secret for form in (secret, quote(secret, safe=""))}
        return tuple(sorted(forms, key=len, reverse=True))  # the longest first, when redacting

    @property
    def masked_database_url(self) -> str:
        """`database.url` with its password hidden, for messages and logs."""
        return mask_url(self.database.url)

    def masked(self) -> dict[str, Any]:
        """Every setting, secrets (passwords, keys, tokens, URL passwords) shown as ***."""
        return masked_config(self.model_dump(mode="json"))

    def secret_values(self) -> list[str]:
        """The plain values of every secret setting, for the logs to mask wherever they appear."""
        found: list[str] = []

        def walk(value: Any, name: str) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(inner, str(key))
            elif isinstance(value, list | tuple):
                for inner in value:
                    walk(inner, name)
            elif isinstance(value, str) and value:
                if is_secret_name(name):
                    found.extend(part.strip() for part in value.split(",") if part.strip())
                password = urlsplit(value).password if "://" in value else None
                if password:
                    found.extend({password, unquote(password)})

        walk(self.model_dump(mode="json"), "")
        return found

    def eventstore_env(self, application_name: str = "scheduler-cli") -> dict[str, str]:
        """The eventsourcing 9.5.6 persistence env for `database.url`.

        On PostgreSQL the store draws on the process's pool of `pool_size - 1` connections
        (adapters/postgres/event_store.py), each named `application_name` in pg_stat_activity.
        """
        db = self.database
        if self.database_kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": str(db.lock_timeout_seconds),
            }
        info = self.postgres_conninfo
        tls = {f"POSTGRES_{k.upper()}": str(info[k]) for k in POSTGRES_TLS_KEYS if k in info}
        return {
            "PERSISTENCE_MODULE": EVENT_STORE_FACTORY,
            **tls,  # passed on to every connection of the pool (adapters/event_store.py)
            "POSTGRES_DBNAME": info["dbname"],
            "POSTGRES_HOST": info["host"],
            "POSTGRES_PORT": str(info["port"]),
            "POSTGRES_USER": info["user"],
            "POSTGRES_PASSWORD": info["password"],
            # The pool, shared with the views: the session connection is the rest of the budget.
            "POSTGRES_POOL_SIZE": str(db.pool_size - 1),
            "POSTGRES_MAX_OVERFLOW": "0",  # never beyond the budget
            # The library wants whole seconds; the pool itself waits POSTGRES_POOL_TIMEOUT.
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, round(db.connection_timeout_seconds))),
            "POSTGRES_POOL_TIMEOUT": str(db.connection_timeout_seconds),
            "POSTGRES_APPLICATION_NAME": application_name,
            "POSTGRES_LOCK_TIMEOUT": str(db.lock_timeout_seconds),
            "POSTGRES_PRE_PING": "y",
            # Keep n: with db functions on, the library drops the table lock and live
            # subscribers permanently miss events (notes/eventsourcing-9.5.6.md §5).
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
            "CREATE_TABLE": "y" if db.create_event_tables else "n",
        }


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def database_kind(url: str) -> Literal["sqlite", "postgres"]:
    """Which store a database URL names, from its scheme."""
    scheme = _scheme(url)
    if scheme == "sqlite":
        return "sqlite"
    if scheme in POSTGRES_SCHEMES:
        return "postgres"
    what = f"unsupported scheme {scheme!r}" if scheme else "not a URL"
    raise ValueError(f"{what}; expected {DATABASE_URL_FORMS} (postgres:// also accepted)")


def sqlite_path(url: str) -> Path:
    """The file of sqlite:///relative/path or sqlite:////absolute/path."""
    if not url.lower().startswith("sqlite:///"):
        raise ValueError("a SQLite URL has three slashes before a relative path, four before /")
    path = url[len("sqlite:///") :]
    if not path or path.endswith("/"):
        raise ValueError("the SQLite URL names no file, e.g. sqlite:///./var/scheduler.db")
    if "?" in path:
        raise ValueError("a SQLite URL takes no query string")
    return Path(path)


def postgres_conninfo(url: str) -> dict[str, Any]:
    """Connection fields of a postgresql:// URL, percent-decoded, with libpq's defaults.

    Its query string may give libpq's TLS options (sslmode, sslrootcert, sslcert, sslkey);
    any other query parameter is refused rather than ignored.
    """
    parts = urlsplit(url)
    _check_netloc(url, "PostgreSQL")
    port = parts.port or 5432
    dbname = unquote(parts.path.removeprefix("/"))
    if not dbname or "/" in dbname:
        raise ValueError("the PostgreSQL URL names no database: postgresql://user:pass@host/db")
    info: dict[str, Any] = {
        "dbname": dbname,
        "host": parts.hostname or "localhost",
        "port": port,
        "user": unquote(parts.username or "") or "postgres",
        "password": unquote(parts.password or ""),
    }
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key not in POSTGRES_TLS_KEYS:
            raise ValueError(
                f"the PostgreSQL URL's query parameter {key!r} is not supported "
                f"(supported: {', '.join(POSTGRES_TLS_KEYS)})"
            )
        if key == "sslmode" and values[-1] not in SSLMODES:
            raise ValueError(f"sslmode must be one of {', '.join(SSLMODES)}, got {values[-1]!r}")
        info[key] = values[-1]
    return info


def _check_netloc(url: str, what: str) -> None:
    """Refuse a URL whose user-info or port cannot be read, without echoing any of it."""
    parts = urlsplit(url)
    if "@" in url.partition("://")[2] and "@" not in parts.netloc:
        # Typical after ${PASSWORD} substitution: the password holds a raw / ? or #.
        raise ValueError("percent-encode / ? # in the user or password (%2F, %3F, %23)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(
            f"the {what} port must be a number from 1 to 65535"
            " (percent-encode : @ / ? # in the user or password)"
        ) from None


def _has_password(url: str) -> bool:
    return urlsplit(url).password is not None


def _has_user(url: str) -> bool:
    return bool(urlsplit(url).username)


def _with_credentials(url: str, credentials: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{credentials}{rest.rpartition('@')[2]}"


def mask_url(url: str) -> str:
    """The URL with the password of its user-info replaced by ***."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return mask_url_passwords(url)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}{slash}{path}"


def load_settings(config_path: str | Path | None, environ: Mapping[str, str]) -> Settings:
    """Read the file named by `config_path` or SCHEDULER_CONFIG (else defaults), then the env.

    Raises:
        ConfigError: the file is missing or not TOML, a ${VAR} is undefined, or a value is bad.
    """
    named_by_env = not config_path and bool(environ.get(CONFIG_ENV))
    path = config_path or environ.get(CONFIG_ENV) or None
    source = str(path) if path else NO_FILE
    raw = _read_toml(Path(path), source, named_by_env) if path else {}
    data = _substitute(raw, environ, source)
    origins = _apply_overrides(data, environ, source)
    _take_secret_keys(data, environ, origins, source)
    _decrypt_values(data, source)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(e, origins) for e in _innermost(exc.errors())]
        raise ConfigError(source, problems) from exc


def _read_toml(path: Path, source: str, named_by_env: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        where = "" if path.is_absolute() else f" (in {Path.cwd()})"
        why = f", named by {CONFIG_ENV}" if named_by_env else ""
        raise ConfigError(source, [f"config file not found: {path}{where}{why}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"invalid TOML: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, ["invalid TOML: the file is not UTF-8"]) from exc
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc


def _substitute(raw: dict[str, Any], environ: Mapping[str, str], source: str) -> dict[str, Any]:
    problems: list[str] = []

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return _VARIABLE.sub(lambda m: replace(m, where), value)
        return value

    def replace(match: re.Match[str], where: str) -> str:
        name, default = match.group(1), match.group(2)
        if default is not None:  # shell semantics: `:-` also covers a set but empty variable
            return environ.get(name) or default
        if name not in environ:
            problems.append(
                f"{where}: environment variable {name} is not set"
                f" (write ${{{name}:-default}} to give a default)"
            )
            return match.group(0)
        return environ[name]

    data = walk(raw, "")
    if problems:
        raise ConfigError(source, problems)
    return data


def _apply_overrides(
    data: dict[str, Any], environ: Mapping[str, str], source: str
) -> dict[tuple[str, str], str]:
    """Apply SCHEDULER_<SECTION>__<KEY> in place; returns which variable set each key."""
    origins: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    sections = Settings.model_fields
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue  # SCHEDULER_CONFIG, SCHEDULER_TEST_* and the like are not overrides
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in sections:
            problems.append(f"{name}: unknown section {section!r}{_suggest(section, sections)}")
            continue
        fields = _section_model(section).model_fields
        if key not in fields:
            problems.append(f"{name}: unknown key {section}.{key}{_suggest(key, fields)}")
            continue
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            continue  # validation reports the malformed section
        value = environ[name]
        if value == "":
            table.pop(key, None)  # an empty override restores the default
        else:
            table[key] = _parse_override(value, fields[key].annotation)
        origins[(section, key)] = name
    if problems:
        raise ConfigError(source, problems)
    return origins


def _take_secret_keys(
    data: dict[str, Any],
    environ: Mapping[str, str],
    origins: Mapping[tuple[str, str], str],
    source: str,
) -> None:
    """Put SCHEDULER_SECRET_KEY into [secrets] keys; refuse keys written anywhere else."""
    section = data.get("secrets")
    if isinstance(section, dict) and section.get("keys") is not None:
        where = origins.get(("secrets", "keys"), "the file")
        raise ConfigError(
            source,
            [
                f"secrets.keys (from {where}): the keys come only from {SECRET_KEY_ENV}, "
                "never from configuration (a key beside the values it protects protects nothing)"
            ],
        )
    if environ.get(SECRET_KEY_ENV, "").strip():
        data.setdefault("secrets", {})
        if isinstance(data["secrets"], dict):
            data["secrets"]["keys"] = environ[SECRET_KEY_ENV]


Found = list[tuple[dict[str, Any] | list[Any], Any, str]]  # (container, key, dotted path)


def _encrypted_values(container: dict[str, Any] | list[Any], where: str) -> Found:
    """Every `enc:` value under a container, with where it is."""
    found: Found = []
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for key, value in items:
        path = (f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]").lstrip(".")
        if isinstance(value, dict | list):
            found += _encrypted_values(value, path)
        elif isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX):
            found.append((container, key, path))
    return found


def _decrypt_values(data: dict[str, Any], source: str) -> None:
    """Replace every `enc:` value by its plain text, decrypted with SCHEDULER_SECRET_KEY.

    Raises:
        ConfigError: naming each key whose value cannot be decrypted, and why.
    """
    found = _encrypted_values(data, "")
    if not found:
        return
    from adapters.aes_secret_box import (
        AesGcmSecretBox,
        KeyringError,
        decrypt_config_value,
        parse_keys,
    )
    from application.secrets import SecretUnreadableError

    section = data.get("secrets")
    keys = section.get("keys") if isinstance(section, dict) else None
    if not keys:
        paths = ", ".join(path for _, _, path in found)
        raise ConfigError(
            source, [f"{paths}: encrypted (enc:...), but {SECRET_KEY_ENV} is not set to decrypt it"]
        )
    try:
        box = AesGcmSecretBox(parse_keys(keys))
    except KeyringError as error:
        raise ConfigError(source, [f"secrets.keys: {error}"]) from None
    problems = []
    for container, key, path in found:
        try:
            container[key] = decrypt_config_value(box, container[key])  # type: ignore[index]
        except (SecretUnreadableError, UnicodeDecodeError) as error:
            problems.append(f"{path}: its enc: value cannot be decrypted: {error}")
    if problems:
        raise ConfigError(source, problems)


def _section_model(section: str) -> type[BaseModel]:
    return Settings.model_fields[section].annotation  # type: ignore[return-value]


def _parse_override(value: str, annotation: Any) -> Any:
    if _is_text(annotation):
        return value  # so a worker named `123` or `nan` stays a string
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return all(isinstance(a, str) for a in args)
    return get_origin(annotation) is not tuple and args == [str]


def _suggest(word: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; known: {', '.join(known)}"


def _innermost(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    # A bad list item also makes the list "too short"; report only the item.
    def inside(outer: ErrorDetails, inner: ErrorDetails) -> bool:
        return (
            len(inner["loc"]) > len(outer["loc"])
            and inner["loc"][: len(outer["loc"])] == outer["loc"]
        )

    return [e for e in errors if not any(inside(e, other) for other in errors)]


def _describe(error: ErrorDetails, origins: Mapping[tuple[str, str], str]) -> str:
    loc = error["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if error["type"] == "extra_forbidden":
        if len(loc) == 1:
            text = f"unknown section{_suggest(str(loc[0]), Settings.model_fields)}"
        else:
            fields = _section_model(str(loc[0])).model_fields
            text = f"unknown key{_suggest(str(loc[-1]), fields)}"
    elif error["type"] == "value_error":
        text = error["msg"].removeprefix("Value error, ")
    else:
        text = error["msg"].split(", unable to")[0]
        secret = any(is_secret_name(str(p)) for p in loc)
        if not secret and not isinstance(error["input"], dict | list):
            text += f", got {mask_text(repr(error['input']))}"
    origin = origins.get((str(loc[0]), str(loc[1]))) if len(loc) >= 2 else None
    return f"{where}: {text}" + (f" (from {origin})" if origin else "")
