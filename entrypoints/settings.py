"""Typed, frozen configuration: a TOML file, ${VAR} substitution, SCHEDULER_* overrides."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pydantic import ValidationInfo
    from pydantic_core import ErrorDetails

CONFIG_ENV = "SCHEDULER_CONFIG"
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

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if database_kind(url) == "sqlite":
            sqlite_path(url)
        else:
            postgres_conninfo(url)
        return url


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

    _blank = field_validator("url", "host", "username", "password", mode="before")(_blank_to_none)

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None, info: ValidationInfo) -> str | None:
        schemes = QUEUE_SCHEMES.get(info.data.get("type", ""))
        if url is not None and schemes and _scheme(url) not in schemes:
            forms = " or ".join(f"{s}://" for s in schemes)
            raise ValueError(f"a {info.data['type']} URL must start with {forms}")
        return url

    @property
    def effective_url(self) -> str | None:
        """The broker URL to connect to; None for the in-process bus."""
        if self.type == "memory":
            return None
        if self.url is not None:
            return self.url
        credentials = ""
        if self.username is not None or self.password is not None:
            user, password = (
                quote(self.username or "", safe=""),
                quote(self.password or "", safe=""),
            )
            credentials = f"{user}:{password}@" if password else f"{user}@"
        host = self.host or "127.0.0.1"
        if self.type == "redis":
            return f"redis://{credentials}{host}:{self.port or 6379}/0"
        return f"amqp://{credentials}{host}:{self.port or 5672}/"


class ApiSettings(_Section):
    """`[api]`: the HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    read_wait_timeout_seconds: float = Field(default=2.0, ge=0)
    cors_origins: tuple[str, ...] = ()


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
    executors: tuple[Literal["shell", "python", "http"], ...] = Field(
        default=("shell", "python", "http"), min_length=1
    )
    queues: tuple[str, ...] = Field(default=("default",), min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    output_tail_bytes: int = Field(default=65536, ge=0)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)

    _blank = field_validator("name", mode="before")(_blank_to_none)


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

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class Settings(_Section):
    """The whole configuration of one process, built once by the composition root."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    message_queue: MessageQueueSettings = Field(default_factory=MessageQueueSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    dispatcher: DispatcherSettings = Field(default_factory=DispatcherSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    projections: ProjectionsSettings = Field(default_factory=ProjectionsSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

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
        """dbname, host, port, user, password; ValueError for a SQLite URL."""
        return postgres_conninfo(self.database.url)

    @property
    def masked_database_url(self) -> str:
        """`database.url` with its password hidden, for messages and logs."""
        return mask_url(self.database.url)

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
        return {
            "PERSISTENCE_MODULE": EVENT_STORE_FACTORY,
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
    """Connection fields of a postgresql:// URL, percent-decoded, with libpq's defaults."""
    parts = urlsplit(url)
    if "@" in url.partition("://")[2] and "@" not in parts.netloc:
        # Typical after ${PASSWORD} substitution: the password holds a raw / ? or #.
        raise ValueError("percent-encode / ? # in the user or password (%2F, %3F, %23)")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ValueError("the PostgreSQL port must be a number from 1 to 65535") from None
    dbname = unquote(parts.path.removeprefix("/"))
    if not dbname or "/" in dbname:
        raise ValueError("the PostgreSQL URL names no database: postgresql://user:pass@host/db")
    return {
        "dbname": dbname,
        "host": parts.hostname or "localhost",
        "port": port,
        "user": unquote(parts.username or "") or "postgres",
        "password": unquote(parts.password or ""),
    }


def mask_url(url: str) -> str:
    """The URL with the password of its user-info replaced by ***."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
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
        secret = any("password" in str(p) for p in loc)
        if not secret and not isinstance(error["input"], dict | list):
            text += f", got {error['input']!r}"
    origin = origins.get((str(loc[0]), str(loc[1]))) if len(loc) >= 2 else None
    return f"{where}: {text}" + (f" (from {origin})" if origin else "")
