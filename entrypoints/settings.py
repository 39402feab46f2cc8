"""Configuration: TOML files with the seed's sections, ${VAR} substitution, env overrides."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "SCHEDULER_"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the problem."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatabaseSettings(_Section):
    """`[database]`: where the event store and the read tables live."""

    url: str = "sqlite:///./var/scheduler.db"
    pool_size: int = Field(10, ge=1, le=500)
    connection_timeout_seconds: float = Field(5.0, gt=0, le=600)
    lock_timeout_seconds: int = Field(5, ge=1, le=600)

    @field_validator("url")
    @classmethod
    def _url_is_supported(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme == "sqlite":
            if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
                raise ValueError("use sqlite:///relative/path.db or sqlite:////absolute/path.db")
            return value
        if scheme in ("postgresql", "postgres"):
            parts = urlsplit(value)
            if not parts.path.strip("/"):
                raise ValueError("the PostgreSQL URL must name a database, e.g. .../scheduler")
            try:
                _ = parts.port
            except ValueError as error:
                raise ValueError(f"bad port: {error}") from None
            return value
        raise ValueError(
            f"unsupported scheme {scheme or '(none)'!r}; "
            "use sqlite:///path.db or postgresql://user@host:5432/db"
        )


class MessageQueueSettings(_Section):
    """`[message_queue]`: the bus between dispatchers and workers."""

    type: Literal["memory", "redis", "rabbitmq"] = "memory"
    url: str | None = None
    prefix: str = Field("scheduler", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    username: str | None = None
    password: str | None = None

    @property
    def effective_url(self) -> str | None:
        """The URL to connect to, built from host/port/credentials when `url` is absent."""
        if self.url or self.type == "memory":
            return self.url
        host = self.host or "127.0.0.1"
        if self.type == "redis":
            return f"redis://{host}:{self.port or 6379}/0"
        user = quote(self.username or "guest", safe="")
        password = quote(self.password or "guest", safe="")
        return f"amqp://{user}:{password}@{host}:{self.port or 5672}/"


class ApiSettings(_Section):
    """`[api]`: the HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1_024)
    read_wait_timeout_seconds: float = Field(2.0, ge=0, le=60)
    cors_origins: list[str] = Field(default_factory=list)


class DispatcherSettings(_Section):
    """`[dispatcher]`: assignment of runs to workers, recovery and deadlines."""

    name: str | None = Field(None, min_length=1, max_length=200)
    max_workers: int = Field(50, ge=1)
    task_timeout_seconds: int = Field(3600, ge=0)
    poll_interval_seconds: float = Field(1.0, gt=0, le=60)
    assign_batch_size: int = Field(200, ge=1, le=10_000)
    lease_missed_heartbeats: int = Field(3, ge=1, le=100)
    deadline_grace_seconds: float = Field(30.0, ge=0)
    republish_after_seconds: float = Field(10.0, gt=0)
    max_recoveries: int = Field(3, ge=0, le=100)


class WorkerSettings(_Section):
    """`[worker]`: the worker process."""

    name: str | None = Field(None, min_length=1, max_length=200)
    heartbeat_interval_seconds: float = Field(5.0, gt=0, le=300)
    max_concurrent_tasks: int = Field(5, ge=1, le=10_000)
    executors: list[Literal["shell", "python", "http", "callable"]] = Field(
        default_factory=lambda: ["shell", "python"], min_length=1
    )
    queues: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    output_tail_bytes: int = Field(65_536, ge=1_024, le=16_777_216)
    shutdown_grace_seconds: float = Field(20.0, ge=0, le=3_600)


class ProjectionSettings(_Section):
    """`[projections]`: how the read tables follow the log."""

    batch_size: int = Field(500, ge=1, le=10_000)
    poll_interval_seconds: float = Field(1.0, gt=0, le=60)


class ObservabilitySettings(_Section):
    """`[observability]`: logs and metrics."""

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    metrics_enabled: bool = True
    tracing_enabled: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class Settings(_Section):
    """Everything a process is configured with; built once in the composition root."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    message_queue: MessageQueueSettings = Field(default_factory=MessageQueueSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    dispatcher: DispatcherSettings = Field(default_factory=DispatcherSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    projections: ProjectionSettings = Field(default_factory=ProjectionSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @property
    def database_kind(self) -> Literal["sqlite", "postgres"]:
        """Which store `[database] url` names."""
        return "sqlite" if self.database.url.startswith("sqlite:") else "postgres"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (relative paths are relative to the working directory)."""
        return Path(self.database.url.removeprefix("sqlite:///"))

    @property
    def postgres_conninfo(self) -> dict[str, str | int]:
        """Connection parameters parsed from the PostgreSQL URL."""
        parts = urlsplit(self.database.url)
        return {
            "dbname": unquote(parts.path.lstrip("/")),
            "host": parts.hostname or "localhost",
            "port": parts.port or 5432,
            "user": unquote(parts.username) if parts.username else "postgres",
            "password": unquote(parts.password) if parts.password else "",
        }

    @property
    def masked_database_url(self) -> str:
        """The database URL with any password hidden, for messages and logs."""
        return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", self.database.url)

    def eventstore_env(self) -> dict[str, str]:
        """The eventsourcing 9.5.6 environment for this store."""
        db = self.database
        if self.database_kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": str(db.lock_timeout_seconds),
            }
        info = self.postgres_conninfo
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(info["dbname"]),
            "POSTGRES_HOST": str(info["host"]),
            "POSTGRES_PORT": str(info["port"]),
            "POSTGRES_USER": str(info["user"]),
            "POSTGRES_PASSWORD": str(info["password"]),
            "POSTGRES_POOL_SIZE": str(db.pool_size),
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, round(db.connection_timeout_seconds))),
            # 0 would wait forever for the events table lock.
            "POSTGRES_LOCK_TIMEOUT": str(db.lock_timeout_seconds),
            "POSTGRES_PRE_PING": "y",
            # On, the library drops its table lock and live subscribers miss events.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
            "CREATE_TABLE": "y",
        }


def load_settings(config_path: str | Path | None, environ: Mapping[str, str]) -> Settings:
    """Read the file (if any), substitute ${VAR}, apply SCHEDULER_<SECTION>__<KEY> overrides.

    Raises:
        ConfigError: naming the file, the key and what is wrong.
    """
    path = config_path or environ.get(f"{ENV_PREFIX}CONFIG") or None
    source = str(path) if path else "defaults"
    data: dict[str, Any] = _read_file(Path(path)) if path else {}
    data = _substitute(data, environ, source, ())
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX) and "__" in key:
            section, _, name = key[len(ENV_PREFIX) :].partition("__")
            data.setdefault(section.lower(), {})
            if not isinstance(data[section.lower()], dict):
                raise ConfigError(f"config error in {source}: {section.lower()} must be a table")
            data[section.lower()][name.lower()] = _parse_literal(value)
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        lines = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            + (f", got {e['input']!r}" if e["type"] != "missing" and _short(e["input"]) else "")
            for e in error.errors()
        ]
        raise ConfigError(f"config error in {source}: " + "; ".join(lines)) from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _substitute(value: Any, environ: Mapping[str, str], source: str, key: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, environ, source, (*key, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, environ, source, key) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"config error in {source}: {'.'.join(key)}: environment variable {name} is not set"
        )

    return PLACEHOLDER.sub(replace, value)


def _parse_literal(text: str) -> Any:
    # Environment values are TOML literals when they parse (9000, true, ["a"]), else strings.
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _short(value: Any) -> bool:
    return not isinstance(value, dict) and len(repr(value)) < 200


def environ_snapshot() -> dict[str, str]:
    """A copy of the process environment, read once by the CLI."""
    return dict(os.environ)
