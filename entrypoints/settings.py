"""Typed, frozen configuration: one pydantic model per section, `Settings` over them all.

config_loading.py reads the sources (file, ${VAR}, SCHEDULER_* overrides, `enc:` values);
`load_settings` checks what it read against these models.
"""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.errors import InvalidFieldError
from domain.namespace import checked_namespaces
from domain.secrets import is_secret_name, masked_config
from entrypoints.config_loading import ConfigError as ConfigError  # where callers import it
from entrypoints.config_loading import LoadedConfig, load_config, load_layered
from entrypoints.database_urls import (
    POSTGRES_TLS_KEYS,
    check_netloc,
    check_read_url,
    database_kind,
    has_password,
    has_user,
    mask_url,
    postgres_conninfo,
    sqlite_path,
    url_scheme,
    with_credentials,
)
from entrypoints.networks import parse_networks

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pydantic import ValidationInfo

# eventsourcing's PostgresFactory on the process's one pool (named by topic, built lazily).
EVENT_STORE_FACTORY = "adapters.event_store:SchedulerPostgresFactory"
QUEUE_SCHEMES = {"redis": ("redis", "rediss", "unix"), "rabbitmq": ("amqp", "amqps")}
TLS_SCHEMES = frozenset({"rediss", "amqps"})
ExecutorName = Literal["shell", "python", "http", "callable"]
EXECUTOR_NAMES: tuple[ExecutorName, ...] = ("shell", "python", "http", "callable")
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$")


def _blank_to_none(value: Any) -> Any:
    # Lets files write `url = "${MQ_URL:-}"` to mean "unset unless the environment gives one".
    return None if isinstance(value, str) and not value.strip() else value


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatabaseSettings(_Section):
    """`[database]`: the event store and the read tables share one database."""

    url: str = Field(default="sqlite:///./var/scheduler.db", repr=False)
    # A streaming replica of `url` for the query side (GET routes, UI pages); None: the
    # primary serves every read. Writes, the log and read-your-writes stay on `url`
    # (docs/operations.md#read-replica).
    read_url: str | None = Field(default=None, repr=False)
    # Connections per API process to the replica (its own budget: the replica's server).
    read_pool_size: int = Field(default=2, ge=1, le=20)
    # Replayed further behind than this, the replica is skipped: every read goes to `url`.
    read_max_lag_seconds: float = Field(default=5.0, gt=0)
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

    _blank = field_validator("read_url", "sslrootcert", "sslcert", "sslkey", mode="before")(
        _blank_to_none
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if database_kind(url) == "sqlite":
            sqlite_path(url)
        else:
            postgres_conninfo(url)
        return url

    @field_validator("read_url")
    @classmethod
    def _check_read_url(cls, read_url: str | None) -> str | None:
        if read_url is not None:
            check_read_url(read_url)
        return read_url

    @model_validator(mode="after")
    def _check_replica(self) -> DatabaseSettings:
        if self.read_url is not None and database_kind(self.url) == "sqlite":
            raise ValueError("read_url needs a PostgreSQL url: SQLite has no replicas")
        return self

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
    # Redis: several messages per stream entry (docs/architecture.md#bus). Turn off while a
    # process of a release before it shares the bus (it reads one message per entry).
    batch_entries: bool = True

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
        if url is not None and schemes and url_scheme(url) not in schemes:
            forms = " or ".join(f"{s}://" for s in schemes)
            raise ValueError(f"a {info.data['type']} URL must start with {forms}")
        if url is not None and url_scheme(url) != "unix":
            check_netloc(url, "message queue")
        return url

    @model_validator(mode="after")
    def _check_credentials_and_tls(self) -> MessageQueueSettings:
        if self.url is not None and has_password(self.url) and self.password is not None:
            raise ValueError("the password is given both in url and in password: keep one")
        if self.url is not None and has_user(self.url) and self.username is not None:
            raise ValueError("the user is given both in url and in username: keep one")
        tls_files = [
            k for k in ("tls_ca_file", "tls_cert_file", "tls_key_file") if getattr(self, k)
        ]
        if self.tls_key_file and not self.tls_cert_file:
            raise ValueError("tls_key_file needs tls_cert_file (the certificate it belongs to)")
        if self.type == "memory" or (not tls_files and not self.tls):
            return self
        if self.url is not None and url_scheme(self.url) not in TLS_SCHEMES:
            what = ", ".join(tls_files) or "tls = true"
            raise ValueError(
                f"{what} needs a TLS URL (rediss:// or amqps://), but url is {url_scheme(self.url)}://"
            )
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether the bus connection is encrypted."""
        url = self.effective_url
        return url is not None and url_scheme(url) in TLS_SCHEMES

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
            return with_credentials(self.url, credentials) if credentials else self.url
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
    # The namespaces whose runs it takes; ["*"]: every namespace.
    namespaces: tuple[str, ...] = Field(default=("default",), min_length=1)
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

    @field_validator("namespaces")
    @classmethod
    def _check_namespaces(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(checked_namespaces(values))
        except InvalidFieldError as error:
            raise ValueError(error.message) from None

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


class RetentionSettings(_Section):
    """`[retention]`: finished runs kept in the read tables for a window, older ones archived."""

    enabled: bool = False
    window_hours: float = Field(default=720.0, gt=0)
    archive_dir: str = "var/archive"
    interval_seconds: float = Field(default=3600.0, gt=0)
    partition_events: int = Field(default=1_000_000, ge=1_000)


class ObservabilitySettings(_Section):
    """`[observability]`: logs, metrics and tracing."""

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    # json: one JSON object per line on stderr (production.toml); text: readable lines.
    log_format: Literal["json", "text"] = "text"
    # GET /api/system/logs keeps the newest records of every process, at most this many
    # and this old (docs/operations.md#logs).
    log_retention_records: int = Field(default=100_000, ge=100, le=10_000_000)
    log_retention_hours: float = Field(default=168.0, gt=0, le=24 * 366)
    metrics_enabled: bool = True
    tracing_enabled: bool = False
    # Processes without the HTTP API (dispatcher, worker, projector) serve /metrics here;
    # 0 turns that off. The API serves /metrics on its own port.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # A bearer token that reads /metrics (and nothing else), for Prometheus; None: only a
    # credential of the API does (the metrics port of other processes: only from loopback).
    metrics_token: str | None = Field(default=None, repr=False)

    # The OTLP/HTTP collector's base URL (http://collector:4318; /v1/traces is added) that
    # spans go to when tracing_enabled; without it traces are made (ids in events, responses
    # and logs) but not exported, and each process says so as it starts.
    otlp_endpoint: str | None = None

    _blank = field_validator("metrics_token", "otlp_endpoint", mode="before")(_blank_to_none)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_endpoint(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"must be an http:// or https:// URL with a host, not {url!r}")
        return url


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


class AlertingSettings(_Section):
    """`[alerting]`: the notifier that delivers subscriptions (docs/operations.md#alerting)."""

    # The projector process (and `scheduler up`) runs the deployment's one notifier.
    notifier_enabled: bool = True
    smtp_host: str | None = None  # unset: email subscriptions are refused
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="scheduler@localhost", min_length=3)
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_starttls: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)  # per webhook or SMTP call
    max_attempts: int = Field(default=5, ge=1, le=100)  # a subscription's default
    retry_base_seconds: float = Field(default=2.0, gt=0)  # doubles each failed attempt...
    retry_max_seconds: float = Field(default=300.0, gt=0)  # ...up to this
    poll_interval_seconds: float = Field(default=1.0, gt=0)

    _blank = field_validator("smtp_host", "smtp_username", "smtp_password", mode="before")(
        _blank_to_none
    )


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
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

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
    def read_conninfo(self) -> dict[str, Any] | None:
        """The replica's connection fields (the [database] TLS keys unless its URL sets its
        own); None without `read_url`."""
        if self.database.read_url is None:
            return None
        info = postgres_conninfo(self.database.read_url)
        for key in POSTGRES_TLS_KEYS:
            value = getattr(self.database, key)
            if value is not None and key not in info:
                info[key] = value
        return info

    @property
    def connection_secrets(self) -> tuple[str, ...]:
        """The database and bus passwords: never to be shown in a message, a log or /health."""
        found: list[str] = []
        if self.database_kind == "postgres":
            found.append(self.postgres_conninfo["password"])
        if self.read_conninfo is not None:
            found.append(self.read_conninfo["password"])
        queue = self.message_queue
        if queue.password:
            found.append(queue.password)
        for url in (queue.url, queue.effective_url):
            if url and url_scheme(url) != "unix":
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
        masked: dict[str, Any] = masked_config(self.model_dump(mode="json"))
        return masked

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


def load_settings(
    config_paths: str | Path | Sequence[str | Path] | None, environ: Mapping[str, str]
) -> Settings:
    """Read the files of `config_paths` or SCHEDULER_CONFIG (else defaults), then the env.

    Several files are laid over each other in order (config_loading.load_layered says how).

    Raises:
        ConfigError: a file is missing or not TOML, a ${VAR} is undefined, or a value is bad.
    """
    return load_config(Settings, config_paths, environ)


def load_sourced_settings(
    config_paths: str | Path | Sequence[str | Path] | None, environ: Mapping[str, str]
) -> LoadedConfig[Settings]:
    """`load_settings`, with the files read and the file or variable behind each key."""
    return load_layered(Settings, config_paths, environ)
