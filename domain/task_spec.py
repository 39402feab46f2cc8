"""A task's definition: what to run, where, when and how; validated before any event."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from domain.callable_target import callable_target_problem
from domain.concurrency_key import key_template_problem
from domain.cron import cron_problem, timezone_problem
from domain.errors import DomainError
from domain.ids import parse_uuid
from domain.namespace import DEFAULT_NAMESPACE, NAMESPACE_RULE, namespace_problem
from domain.scalars import Integer, Number
from domain.secrets import INPUT_KEY, SEALED_KEY, is_secret_name
from domain.timing import timing_problem

MAX_NAME_LENGTH = 200
MAX_COMMAND_LENGTH = 16_384
MAX_ARGS = 256
MAX_ENV_ENTRIES = 256
MAX_SCHEDULE_LENGTH = 1_000
MAX_LABELS = 64
MAX_LABEL_KEY_LENGTH = 63
MAX_LABEL_VALUE_LENGTH = 200
MAX_HEADER_VALUE_LENGTH = 8_192
MAX_ENVELOPE_LENGTH = 65_536  # a sealed value: its base64 ciphertext, nonce and tag
STORED = "stored"  # validation context of definitions read from or written to the log
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Without a clock a definition's timing is evaluated from this moment; the command evaluates it
# again from its own `now` (Task.create, Task.update). Cron without a year field is periodic,
# so the moment does not change what is accepted.
TIMING_REFERENCE = datetime(2026, 1, 1, tzinfo=UTC)

Priority = Literal["low", "normal", "high", "critical"]
ExecutorName = Literal["shell", "python", "http", "callable"]
ConcurrencyPolicy = Literal["allow", "skip", "queue", "replace", "buffer_one", "buffer_all"]
PRIORITY_RANK: dict[str, int] = {"low": 0, "normal": 1, "high": 2, "critical": 3}

ShortText = Annotated[str, Field(max_length=200)]
LabelKey = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_KEY_LENGTH)]
LabelValue = Annotated[str, Field(max_length=MAX_LABEL_VALUE_LENGTH)]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(
        max_length=MAX_LABELS,
        description=f"At most {MAX_LABELS} labels; keys 1-{MAX_LABEL_KEY_LENGTH} characters, "
        f"values at most {MAX_LABEL_VALUE_LENGTH}.",
    ),
]


class SpecValidationError(DomainError):
    """One or more fields of a task definition are invalid."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


class SecretInput(BaseModel):
    """A secret value: stored encrypted, shown as ***, given only to the worker that runs it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: SecretStr = Field(max_length=MAX_COMMAND_LENGTH)  # SecretStr: never in a repr

    def plaintext(self) -> str:
        """The value itself, for the application to seal."""
        return self.secret.get_secret_value()


class SealedSecret(BaseModel):
    """A secret value as the log stores it, encrypted by the scheduler; callers never send it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enc: str = Field(
        pattern=r"^v[0-9]+:[A-Za-z0-9_-]+:[A-Za-z0-9_=-]+$", max_length=MAX_ENVELOPE_LENGTH
    )

    @model_validator(mode="after")
    def _only_from_the_log(self, info: ValidationInfo) -> SealedSecret:
        # Only definitions read from or written to the log hold envelopes: a caller sending one
        # could make a worker decrypt a value it copied from elsewhere.
        if not (info.context or {}).get(STORED):
            raise ValueError('{"enc": ...} is written by the scheduler; send {"secret": "..."}')
        return self


def _value_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "plain"
    if isinstance(value, SecretInput) or (isinstance(value, Mapping) and INPUT_KEY in value):
        return "secret"
    if isinstance(value, SealedSecret) or (isinstance(value, Mapping) and SEALED_KEY in value):
        return "sealed"
    return None


SECRET_OR_PLAIN = Discriminator(
    _value_kind,
    custom_error_type="secret_or_plain",
    custom_error_message='must be a string or {"secret": "..."}',
)
# A plain string, a {"secret": ...} input or (in stored data) a sealed envelope.
EnvValue = Annotated[
    Annotated[Annotated[str, Field(max_length=MAX_COMMAND_LENGTH)], Tag("plain")]
    | Annotated[SecretInput, Tag("secret")]
    | Annotated[SkipJsonSchema[SealedSecret], Tag("sealed")],
    SECRET_OR_PLAIN,
]
HeaderValue = Annotated[
    Annotated[Annotated[str, Field(max_length=MAX_HEADER_VALUE_LENGTH)], Tag("plain")]
    | Annotated[SecretInput, Tag("secret")]
    | Annotated[SkipJsonSchema[SealedSecret], Tag("sealed")],
    SECRET_OR_PLAIN,
]
SecretValue = SecretInput | SealedSecret


class HttpRequestSpec(BaseModel):
    """What the `http` executor sends; the URL is the task's `command`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[ShortText, HeaderValue] = Field(
        default_factory=dict,
        description='Secret values as {"secret": "..."}; names like Authorization, Cookie or '
        "X-Api-Key are secret anyway. Secrets are stored encrypted and shown as ***.",
    )
    body: str | None = Field(None, max_length=1_048_576)
    expected_status: list[Annotated[Integer, Field(ge=100, le=599)]] = Field(
        default_factory=list,
        max_length=50,
        description="Statuses that count as success; empty means any 2xx.",
    )


class TaskSpec(BaseModel):
    """Every field of a task that operators set; immutable once validated."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    name: str = Field(description="Unique in its namespace, 1–200 printable characters.")
    namespace: str = Field(
        DEFAULT_NAMESPACE,
        description=f"The namespace the task and its runs belong to ({NAMESPACE_RULE}); it "
        "must exist (POST /api/namespaces; default always does) and never changes.",
    )
    description: str = Field("", max_length=4_000)
    task_type: ShortText = Field("batch", description="Free-form category, e.g. batch.")
    executor: ExecutorName = Field(
        "shell",
        description="How the worker runs the command: shell (a command line), python (a "
        "script in a new interpreter), http (a request to the URL), or callable (a trusted "
        "package.module:function called inside the worker, no process spawned; args "
        "positional, the trigger's params as keyword arguments, its return value as output).",
    )
    command: str = Field(
        min_length=1,
        max_length=MAX_COMMAND_LENGTH,
        description="What to run: a command line (shell), a script (python), a URL (http), "
        "or package.module:function (callable; the module must be under the worker's "
        "[worker] callable_modules).",
    )
    args: list[Annotated[str, Field(max_length=MAX_COMMAND_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_ARGS
    )
    env: dict[str, EnvValue] = Field(
        default_factory=dict,
        description="The child process's own environment variables. Secret values as "
        '{"secret": "..."}, or named in secret_env, or by a name like *PASSWORD*, *TOKEN*, '
        "*SECRET*, *KEY*: stored encrypted, shown as ***, given only to the worker.",
    )
    secret_env: list[Annotated[str, Field(max_length=MAX_NAME_LENGTH)]] = Field(
        default_factory=list,
        max_length=MAX_ENV_ENTRIES,
        description="Names of env variables whose values are secret whenever they are set.",
    )
    working_dir: str | None = Field(
        None, max_length=4_096, description="Absolute path the process starts in."
    )
    schedule: str | None = Field(
        None,
        max_length=MAX_SCHEDULE_LENGTH,
        description="Cron: 5 fields, 6 with seconds first, or a macro; null = manual only. "
        "It must fire: a date that never comes (February 30) is refused.",
    )
    timezone: str = Field(
        "UTC", max_length=100, description="IANA time zone key the schedule is read in."
    )
    interval_seconds: Integer | None = Field(
        None,
        ge=1,
        le=31_536_000,
        description="Fire every N seconds, aligned to the Unix epoch; instead of schedule.",
    )
    run_at: AwareDatetime | None = Field(
        None, description="Fire once at this moment (ISO 8601 with offset); instead of schedule."
    )
    jitter_seconds: Integer = Field(
        0,
        ge=0,
        le=3_600,
        description="Request each scheduled slot's run up to this many seconds after its "
        "nominal time, by a fixed offset per slot (a hash of the task and the slot); "
        "nominal_time stays the slot. 0 = on time.",
    )
    remaining_runs: Integer | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="How many more scheduled slots fire; each cron/interval/run_at fire "
        "counts one (manual triggers do not). The fire that uses the last one pauses the task "
        "saying so; 0 fires nothing more. null = no limit.",
    )
    priority: Priority = "normal"
    retry_count: Integer = Field(0, ge=0, le=100, description="Retries after the first attempt.")
    retry_delay_seconds: Number = Field(10.0, ge=0, le=86_400)
    retry_backoff: Number = Field(2.0, ge=1, le=100)
    retry_max_delay_seconds: Number = Field(3_600.0, ge=0, le=604_800)
    timeout_seconds: Integer = Field(3_600, ge=0, le=604_800, description="0 means no timeout.")
    depends_on: list[ShortText] = Field(
        default_factory=list,
        max_length=100,
        description="Upstream tasks (number, UUID or name; stored as UUIDs). This task runs in "
        "a batch once every upstream run of that batch succeeded.",
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        "allow",
        description="While a run of the task is out: allow another, skip the new one, queue "
        "it, replace the old one, buffer_one (one waits, later ones are skipped) or "
        "buffer_all (all wait, one at a time in request order).",
    )
    concurrency_key: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description='A template over the trigger\'s params, e.g. "{customer_id}": runs whose '
        "key renders the same run at most max_concurrency_per_key at once; the others wait "
        "(an absent or secret param renders empty). null = no key.",
    )
    max_concurrency_per_key: Integer = Field(
        1, ge=1, le=10_000, description="Runs of one concurrency_key value at once."
    )
    pause_after_failures: Integer | None = Field(
        None,
        ge=1,
        le=1_000,
        description="Pause the task after this many runs in a row ended failed or timed_out "
        "(retries exhausted); a success resets the count. null = never.",
    )
    misfire_policy: Literal["skip", "fire_once", "catch_up"] = "fire_once"
    catchup_window_seconds: Integer = Field(3_600, ge=0, le=31_536_000)
    routing_strategy: Literal[
        "round_robin", "least_loaded", "random", "consistent_hash", "failover", "broadcast"
    ] = "least_loaded"
    queue: ShortText = "default"
    labels: Labels = Field(default_factory=dict)
    http: HttpRequestSpec | None = Field(
        None, description="Request details for executor 'http' (command holds the URL)."
    )

    @field_validator("name")
    @classmethod
    def _name_is_usable(cls, value: str) -> str:
        if not 1 <= len(value) <= MAX_NAME_LENGTH:
            raise ValueError(f"must be 1 to {MAX_NAME_LENGTH} characters")
        if not value.isprintable() or value != value.strip():
            raise ValueError("must be printable characters without leading or trailing spaces")
        if "/" in value:
            raise ValueError("must not contain '/' (names are used in URLs)")
        if value.isascii() and value.isdigit():
            raise ValueError("must not be only digits (numbers refer to tasks by id)")
        if parse_uuid(value) is not None:
            raise ValueError("must not be a UUID (UUIDs refer to tasks by uuid)")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_is_a_label(cls, value: str) -> str:
        problem = namespace_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _timezone_is_iana(cls, value: str) -> str:
        problem = timezone_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("working_dir")
    @classmethod
    def _working_dir_is_absolute(cls, value: str | None) -> str | None:
        # A relative directory would depend on where each worker happens to start.
        if value is not None and ("\x00" in value or not PurePosixPath(value).is_absolute()):
            raise ValueError("must be an absolute path without NUL characters, e.g. /srv/jobs")
        return value

    @field_validator("env")
    @classmethod
    def _env_names_are_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_ENV_ENTRIES:
            raise ValueError(f"at most {MAX_ENV_ENTRIES} variables")
        bad = [name for name in value if not ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"invalid variable names {bad}: use letters, digits and _")
        if any("\x00" in _text_of(v) for v in value.values()):
            raise ValueError("values must not contain NUL characters")
        return value

    @field_validator("secret_env")
    @classmethod
    def _secret_names_are_valid(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"invalid variable names {bad}: use letters, digits and _")
        return list(dict.fromkeys(value))

    @field_validator("args")
    @classmethod
    def _args_have_no_nul(cls, value: list[str]) -> list[str]:
        if any("\x00" in arg for arg in value):
            raise ValueError("arguments must not contain NUL characters")
        return value

    @field_validator("command")
    @classmethod
    def _command_has_no_nul(cls, value: str) -> str:
        if "\x00" in value or not value.strip():
            raise ValueError("must be non-blank text without NUL characters")
        return value

    @field_validator("concurrency_key")
    @classmethod
    def _key_is_a_template(cls, value: str | None) -> str | None:
        problem = key_template_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("depends_on")
    @classmethod
    def _dependencies_are_distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # the same upstream twice means it once

    @model_validator(mode="after")
    def _one_kind_of_timing(self) -> TaskSpec:
        chosen = [
            name
            for name in ("schedule", "interval_seconds", "run_at")
            if getattr(self, name) is not None
        ]
        if len(chosen) > 1:
            raise ValueError(f"set only one of schedule, interval_seconds and run_at, not {chosen}")
        return self

    @model_validator(mode="after")
    def _timing_can_be_evaluated(self) -> TaskSpec:
        # Runs after _one_kind_of_timing: the next fires are computed as consumers will.
        problem = timing_problem(self.model_dump(mode="json"), TIMING_REFERENCE)
        if problem is not None:
            raise field_error(problem.field, problem.message, getattr(self, problem.field))
        return self

    @model_validator(mode="after")
    def _http_needs_a_url(self) -> TaskSpec:
        if self.executor == "http":
            parts = urlsplit(self.command)
            try:
                _ = parts.port  # raises on a malformed port
            except ValueError:
                raise ValueError("command has an invalid port") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("executor 'http' needs command to be an http(s):// URL")
            if parts.password is not None:
                # The URL is stored and shown as it is: a password belongs in a sealed header.
                raise ValueError(
                    "command must not hold a password (user:password@): send it as a secret "
                    'header, e.g. "http": {"headers": {"Authorization": {"secret": "Basic ..."}}}'
                )
        elif self.http is not None:
            raise ValueError("http settings are only used with executor 'http'")
        return self

    @model_validator(mode="after")
    def _callable_names_a_function(self) -> TaskSpec:
        # Which modules a worker may import is its own setting; the form is checked here.
        problem = callable_target_problem(self.command) if self.executor == "callable" else None
        if problem is not None:
            raise field_error("command", f"executor 'callable' needs {problem}", self.command)
        return self

    def as_event_data(self) -> dict[str, Any]:
        """The definition as JSON primitives, the shape stored in events (Task refuses one
        with a secret not sealed; a `{"secret": ...}` left in it would dump as asterisks)."""
        return self.model_dump(mode="json")

    def secret_inputs(self) -> dict[str, Any]:
        """Every secret value by its path (`env.NAME`, `http.headers.NAME`): given or sealed."""
        names = set(self.secret_env)
        found: dict[str, Any] = {
            f"env.{name}": value
            for name, value in self.env.items()
            if isinstance(value, SecretValue) or name in names or is_secret_name(name)
        }
        for name, value in (self.http.headers if self.http else {}).items():
            if isinstance(value, SecretValue) or is_secret_name(name):
                found[f"http.headers.{name}"] = value
        return found

    def unsealed_secrets(self) -> list[str]:
        """The paths of secret values that are not sealed (the log must never hold them)."""
        return [p for p, v in self.secret_inputs().items() if not isinstance(v, SealedSecret)]

    def with_changes(self, changes: dict[str, Any]) -> TaskSpec:
        """A new validated spec with `changes` applied."""
        return validate_spec({**self.as_event_data(), **changes})


def field_error(field: str, message: str, value: Any) -> ValidationError:
    """A validation error located at `field`, for checks that need several fields."""
    detail = PydanticCustomError("timing", "{reason}", {"reason": message})
    return ValidationError.from_exception_data(
        "TaskSpec", [InitErrorDetails(type=detail, loc=(field,), input=value)]
    )


def _text_of(value: Any) -> str:
    return (
        value.plaintext()
        if isinstance(value, SecretInput)
        else value
        if isinstance(value, str)
        else ""
    )


def validate_spec(data: dict[str, Any]) -> TaskSpec:
    """Validate a definition read from or written to the log (sealed values allowed),
    raising SpecValidationError that names each field."""
    try:
        return TaskSpec.model_validate(data, context={STORED: True})
    except ValidationError as error:
        raise SpecValidationError(
            [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in error.errors()]
        ) from None


def with_timing_fields(spec: dict[str, Any]) -> None:
    """Add the timing fields of spec v2 (`interval_seconds`, `run_at`) to a v1 spec."""
    spec.setdefault("interval_seconds", None)
    spec.setdefault("run_at", None)
