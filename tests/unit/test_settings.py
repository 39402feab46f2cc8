"""Configuration: defaults, files, ${VAR} substitution, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from entrypoints.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    """A config file holding `text`."""
    path = tmp_path / "scheduler.toml"
    path.write_text(text)
    return path


def error_of(config_path: Path | None, environ: dict[str, str]) -> str:
    """The ConfigError message that loading produces."""
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path, environ)
    return str(caught.value)


def test_without_a_file_the_embedded_defaults_apply() -> None:
    settings = load_settings(None, {})

    assert settings == Settings()
    assert settings.database.url == "sqlite:///./var/scheduler.db"
    assert settings.sqlite_path == Path("var/scheduler.db")
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8080)
    assert settings.message_queue.type == "memory"
    assert settings.message_queue.effective_url is None
    assert settings.worker.name is None
    assert settings.worker.max_concurrent_tasks == 5
    assert settings.worker.offered_executors == ("shell", "python", "http")


def test_settings_are_frozen() -> None:
    settings = load_settings(None, {})

    with pytest.raises(pydantic.ValidationError):
        settings.api.port = 1


def test_the_config_path_argument_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9001\n")

    assert load_settings(path, {}).api.port == 9001


def test_scheduler_config_names_the_file_when_no_path_is_given(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9001\n")

    assert load_settings(None, {"SCHEDULER_CONFIG": str(path)}).api.port == 9001


def test_the_config_path_argument_wins_over_scheduler_config(tmp_path: Path) -> None:
    chosen = write(tmp_path, "[api]\nport = 9001\n")

    settings = load_settings(chosen, {"SCHEDULER_CONFIG": str(tmp_path / "absent.toml")})

    assert settings.api.port == 9001


def test_a_missing_file_is_reported_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    assert error_of(path, {}) == f"config error in {path}: config file not found: {path}"


def test_a_missing_file_named_by_scheduler_config_says_so(tmp_path: Path) -> None:
    message = error_of(None, {"SCHEDULER_CONFIG": str(tmp_path / "absent.toml")})

    assert message.endswith("named by SCHEDULER_CONFIG")


def test_invalid_toml_is_reported_with_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = = 1\n")

    message = error_of(path, {})

    assert message.startswith(f"config error in {path}: invalid TOML")
    assert "line 2" in message


def test_an_environment_override_replaces_a_file_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///a.db"\n')

    settings = load_settings(path, {"SCHEDULER_DATABASE__URL": "postgresql://u:p@db:5433/sched"})

    assert settings.database_kind == "postgres"


def test_environment_overrides_are_parsed_as_toml_literals() -> None:
    settings = load_settings(
        None,
        {
            "SCHEDULER_API__PORT": "9000",
            "SCHEDULER_OBSERVABILITY__METRICS_ENABLED": "false",
            "SCHEDULER_WORKER__EXECUTORS": '["shell", "http"]',
            "SCHEDULER_DISPATCHER__POLL_INTERVAL_SECONDS": "0.25",
        },
    )

    assert settings.api.port == 9000
    assert settings.observability.metrics_enabled is False
    assert settings.worker.executors == ("shell", "http")
    assert settings.dispatcher.poll_interval_seconds == 0.25


def test_environment_overrides_of_text_keys_stay_text() -> None:
    settings = load_settings(None, {"SCHEDULER_WORKER__NAME": "123", "SCHEDULER_API__HOST": "nan"})

    assert (settings.worker.name, settings.api.host) == ("123", "nan")


def test_environment_override_names_are_case_insensitive() -> None:
    settings = load_settings(None, {"scheduler_message_queue__type": "redis"})

    assert settings.message_queue.type == "redis"


def test_an_empty_environment_override_restores_the_default(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9001\n")

    assert load_settings(path, {"SCHEDULER_API__PORT": ""}).api.port == 8080


def test_scheduler_variables_without_a_section_are_not_overrides() -> None:
    settings = load_settings(
        None, {"SCHEDULER_TEST_DATABASE_URL": "postgresql://x/y", "SCHEDULER_CONFIG": ""}
    )

    assert settings == Settings()


def test_an_unknown_environment_override_is_refused_by_its_variable_name() -> None:
    message = error_of(None, {"SCHEDULER_API__PROT": "9000"})

    assert "SCHEDULER_API__PROT: unknown key api.prot (did you mean 'port'?)" in message


def test_a_bad_override_value_names_the_key_and_the_variable() -> None:
    message = error_of(None, {"SCHEDULER_API__PORT": "abc"})

    assert message == (
        "config error in (no config file): api.port: Input should be a valid integer, "
        "got 'abc' (from SCHEDULER_API__PORT)"
    )


def test_variables_are_substituted_inside_string_values(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://s:${PW}@db:5432/${DB}"\n')

    settings = load_settings(path, {"PW": "secret", "DB": "sched"})

    assert settings.database.url == "postgresql://s:secret@db:5432/sched"


def test_a_substitution_default_applies_when_the_variable_is_unset(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\nhost = "${API_HOST:-0.0.0.0}"\n')

    assert load_settings(path, {}).api.host == "0.0.0.0"


def test_substitution_reaches_strings_inside_lists(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\ncors_origins = ["https://${DOMAIN}"]\n')

    assert load_settings(path, {"DOMAIN": "a.example"}).api.cors_origins == ("https://a.example",)


def test_a_missing_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://s:${PW}@h/db"\n')

    message = error_of(path, {})

    assert message.startswith(
        f"config error in {path}: database.url: environment variable PW is not set"
    )


def test_an_unknown_key_is_refused_with_its_dotted_name(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "[api]\nprot = 1\n"), {})

    assert "api.prot: unknown key (did you mean 'port'?)" in message


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, '[databse]\nurl = "x"\n'), {})

    assert "databse: unknown section (did you mean 'database'?)" in message


def test_an_invalid_port_names_api_port_and_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\nport = "abc"\n')

    assert error_of(path, {}) == (
        f"config error in {path}: api.port: Input should be a valid integer, got 'abc'"
    )


def test_a_port_out_of_range_names_api_port(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "[api]\nport = 70000\n"), {})

    assert "api.port: Input should be less than or equal to 65535, got 70000" in message


def test_each_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 0\n[worker]\nmax_concurrent_tasks = 0\n")

    lines = error_of(path, {}).splitlines()

    assert [line.split(": ")[1] for line in lines] == ["api.port", "worker.max_concurrent_tasks"]


def test_a_worker_needs_at_least_one_concurrent_task() -> None:
    message = error_of(None, {"SCHEDULER_WORKER__MAX_CONCURRENT_TASKS": "0"})

    assert "worker.max_concurrent_tasks: Input should be greater than or equal to 1" in message


def test_an_unknown_executor_is_named_by_its_position() -> None:
    message = error_of(None, {"SCHEDULER_WORKER__EXECUTORS": '["shel"]'})

    assert message.splitlines() == [
        "config error in (no config file): worker.executors[0]: Input should be 'shell', "
        "'python', 'http' or 'callable', got 'shel' (from SCHEDULER_WORKER__EXECUTORS)"
    ]


def test_an_unknown_message_queue_type_is_refused() -> None:
    message = error_of(None, {"SCHEDULER_MESSAGE_QUEUE__TYPE": "kafka"})

    assert "message_queue.type: Input should be 'memory', 'redis' or 'rabbitmq'" in message


def test_a_message_queue_url_must_match_its_type() -> None:
    message = error_of(
        None,
        {"SCHEDULER_MESSAGE_QUEUE__TYPE": "redis", "SCHEDULER_MESSAGE_QUEUE__URL": "amqp://h/"},
    )

    assert "message_queue.url: a redis URL must start with redis://" in message


def test_a_rabbitmq_url_is_built_from_the_seed_style_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[message_queue]\ntype = "rabbitmq"\nhost = "mq"\nport = 5673\n'
        'username = "sched"\npassword = "p@ss/w"\n',
    )

    url = load_settings(path, {}).message_queue.effective_url

    assert url == "amqp://sched:p%40ss%2Fw@mq:5673/"


def test_a_redis_url_is_built_from_host_and_port() -> None:
    settings = load_settings(
        None, {"SCHEDULER_MESSAGE_QUEUE__TYPE": "redis", "SCHEDULER_MESSAGE_QUEUE__HOST": "cache"}
    )

    assert settings.message_queue.effective_url == "redis://cache:6379/0"


def test_an_explicit_message_queue_url_wins_over_host_and_port() -> None:
    settings = load_settings(
        None,
        {
            "SCHEDULER_MESSAGE_QUEUE__TYPE": "redis",
            "SCHEDULER_MESSAGE_QUEUE__URL": "redis://r:6380/2",
            "SCHEDULER_MESSAGE_QUEUE__HOST": "ignored",
        },
    )

    assert settings.message_queue.effective_url == "redis://r:6380/2"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://h/db", "unsupported scheme 'mysql'"),
        ("nonsense", "not a URL"),
        ("sqlite://", "three slashes"),
        ("sqlite:///", "names no file"),
        ("postgresql://h:5432/", "names no database"),
        ("postgresql://h:abc/db", "port must be a number"),
        ("postgresql://u:p/w@h/db", "percent-encode"),
    ],
)
def test_a_bad_database_url_names_database_url_and_the_problem(url: str, problem: str) -> None:
    message = error_of(None, {"SCHEDULER_DATABASE__URL": url})

    assert message.startswith("config error in (no config file): database.url: ")
    assert problem in message


def test_a_database_url_error_does_not_echo_the_password() -> None:
    message = error_of(None, {"SCHEDULER_DATABASE__URL": "mysql://u:hunter2@h/db"})

    assert "hunter2" not in message


def test_the_development_config_loads() -> None:
    settings = load_settings(ROOT / "config/development.toml", {})

    assert settings.database_kind == "sqlite"
    assert settings.sqlite_path == Path("var/scheduler.db")
    assert settings.message_queue.type == "memory"
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8080)
    assert settings.worker.heartbeat_interval_seconds == 5
    assert settings.worker.max_concurrent_tasks == 5


def test_the_production_config_loads_with_its_secrets_in_the_environment() -> None:
    settings = load_settings(ROOT / "config/production.toml", {"POSTGRES_PASSWORD": "pw"})

    assert settings.postgres_conninfo["password"] == "pw"
    assert settings.message_queue.effective_url == "redis://127.0.0.1:6379/0"
    assert settings.api.host == "0.0.0.0"
    assert settings.observability.tracing_enabled is True


def test_the_production_config_needs_the_postgres_password() -> None:
    message = error_of(ROOT / "config/production.toml", {})

    assert "database.url: environment variable POSTGRES_PASSWORD is not set" in message


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///./var/s.db", Path("var/s.db")),
        ("sqlite:///data/s.db", Path("data/s.db")),
        ("sqlite:////srv/data/s.db", Path("/srv/data/s.db")),
    ],
)
def test_sqlite_urls_name_relative_and_absolute_files(url: str, path: Path) -> None:
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": url})

    assert settings.sqlite_path == path


def test_the_event_store_environment_for_sqlite() -> None:
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": "sqlite:////data/s.db"})

    assert settings.eventstore_env() == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "/data/s.db",
        "SQLITE_LOCK_TIMEOUT": "5",
    }


def test_the_event_store_environment_for_postgres() -> None:
    url = "postgresql://app:pw@db.local:6543/sched"
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": url})

    assert settings.eventstore_env("scheduler-api") == {
        "PERSISTENCE_MODULE": "adapters.event_store:SchedulerPostgresFactory",
        "POSTGRES_DBNAME": "sched",
        "POSTGRES_HOST": "db.local",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "pw",
        # pool_size 5 = the session connection + a pool of 4 shared with the views
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "0",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_TIMEOUT": "5.0",
        "POSTGRES_APPLICATION_NAME": "scheduler-api",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
        "CREATE_TABLE": "y",
    }


def test_the_connection_budget_is_pool_size_and_at_least_two() -> None:
    url = "postgresql://app@db/sched"
    env = load_settings(
        None, {"SCHEDULER_DATABASE__URL": url, "SCHEDULER_DATABASE__POOL_SIZE": "2"}
    ).eventstore_env()
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == ("1", "0")
    with pytest.raises(ConfigError, match=r"database\.pool_size: Input should be greater than"):
        load_settings(None, {"SCHEDULER_DATABASE__POOL_SIZE": "1"})


def test_the_event_store_environment_decodes_a_percent_encoded_password() -> None:
    url = "postgresql://app%2Bci:p%40ss%3Aw%2Frd@db:5432/sched"
    env = load_settings(None, {"SCHEDULER_DATABASE__URL": url}).eventstore_env()

    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("app+ci", "p@ss:w/rd")


def test_postgres_conninfo_fills_in_libpq_defaults_and_keeps_the_urls_sslmode() -> None:
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": "postgres:///sched?sslmode=require"})

    assert settings.postgres_conninfo == {
        "dbname": "sched",
        "host": "localhost",
        "port": 5432,
        "user": "postgres",
        "password": "",
        "sslmode": "require",
    }


def test_the_masked_database_url_hides_the_password() -> None:
    url = "postgresql://app:s3cret@db:5432/sched"
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": url})

    assert settings.masked_database_url == "postgresql://app:***@db:5432/sched"
    assert "s3cret" not in repr(settings)
