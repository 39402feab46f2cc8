"""The security settings of the edge, the worker and the transports: checked at load time."""

from __future__ import annotations

import logging
import sys

import pytest

from adapters.executors.callable_modules import module_allowed
from entrypoints.api.health_checks import redacted
from entrypoints.redaction import RedactingFormatter, redact
from entrypoints.settings import ConfigError, Settings, load_settings


def settings(**env: str) -> Settings:
    return load_settings(None, {f"SCHEDULER_{k.upper()}": v for k, v in env.items()})


def test_cors_origins_are_origins_and_a_path_is_refused_with_the_origin_meant() -> None:
    assert settings(api__cors_origins='["https://app.example.com:8443", "*"]').api.cors_origins
    with pytest.raises(ConfigError, match=r"did you mean 'https://app.example.com'\?"):
        settings(api__cors_origins='["https://app.example.com/"]')
    with pytest.raises(ConfigError, match=r"api.cors_origins: \[0\] 'app.example.com' is not"):
        settings(api__cors_origins='["app.example.com"]')


def test_rate_limits_are_numbers_and_zero_turns_one_off() -> None:
    api = settings(api__rate_limit_per_second="0", api__auth_failure_limit_per_minute="0").api
    assert (api.rate_limit_per_second, api.auth_failure_limit_per_minute) == (0, 0)
    with pytest.raises(ConfigError, match=r"api\.rate_limit_burst"):
        settings(api__rate_limit_burst="0")


def test_run_as_user_takes_a_name_or_a_uid_written_either_way() -> None:
    assert settings(worker__run_as_user="nobody").worker.run_as_user == "nobody"
    assert settings(worker__run_as_user="65534").worker.run_as_user == "65534"
    assert Settings.model_validate({"worker": {"run_as_user": 0}}).worker.run_as_user == "0"
    with pytest.raises(ConfigError, match=r"'no body' is not a user name or a uid"):
        settings(worker__run_as_user="no body")


def test_allowed_executors_limit_what_the_worker_offers() -> None:
    worker = settings(worker__allowed_executors='["http"]').worker
    assert worker.offered_executors == ("http",)
    assert settings().worker.offered_executors == ("shell", "python", "http")


def test_offering_an_executor_that_is_not_allowed_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"executors lists shell, which allowed_executors"):
        settings(worker__executors='["shell", "http"]', worker__allowed_executors='["http"]')


def test_callable_modules_are_dotted_module_names() -> None:
    assert settings(worker__callable_modules='["myapp.jobs", "etl"]').worker.callable_modules
    with pytest.raises(ConfigError, match=r"\[0\] 'myapp.jobs:run' is not a module name"):
        settings(worker__callable_modules='["myapp.jobs:run"]')
    with pytest.raises(ConfigError, match=r"\[1\] '.relative' is not a module name"):
        settings(worker__callable_modules='["ok", ".relative"]')
    assert settings().worker.callable_modules == ()


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("myapp.jobs", True),
        ("myapp.jobs.nightly", True),
        ("myapp.jobs.nightly:run", True),
        ("myapp.jobs2", False),
        ("myapp", False),
        ("os", False),
        (".myapp.jobs", False),
        ("myapp..jobs", False),
        ("", False),
    ],
)
def test_module_allowed_matches_a_prefix_on_a_dot_boundary(name: str, allowed: bool) -> None:
    assert module_allowed(name, ["myapp.jobs", "etl"]) is allowed


def test_no_prefixes_allow_nothing() -> None:
    assert not module_allowed("anything", [])
    assert not module_allowed("anything", [""])


def test_a_password_given_apart_is_filled_into_the_bus_url() -> None:
    queue = settings(
        message_queue__type="redis",
        message_queue__url="rediss://redis.internal:6380/0",
        message_queue__username="sched",
        message_queue__password="p@ss/word",
    ).message_queue
    assert queue.effective_url == "rediss://sched:p%40ss%2Fword@redis.internal:6380/0"
    assert queue.uses_tls


def test_a_password_in_the_url_and_apart_is_refused() -> None:
    with pytest.raises(ConfigError, match="the password is given both in url and in password"):
        settings(
            message_queue__type="redis",
            message_queue__url="redis://:a@h:6379/0",
            message_queue__password="b",
        )


def test_tls_files_need_a_tls_url() -> None:
    with pytest.raises(ConfigError, match=r"tls_ca_file needs a TLS URL .* but url is redis://"):
        settings(
            message_queue__type="redis",
            message_queue__url="redis://h:6379/0",
            message_queue__tls_ca_file="/ca.pem",
        )
    with pytest.raises(ConfigError, match="tls_key_file needs tls_cert_file"):
        settings(message_queue__type="redis", message_queue__tls_key_file="/k.pem")


def test_tls_on_host_and_port_builds_rediss_and_amqps_urls() -> None:
    redis = settings(message_queue__type="redis", message_queue__tls="true").message_queue
    assert redis.effective_url == "rediss://127.0.0.1:6379/0"
    amqp = settings(message_queue__type="rabbitmq", message_queue__tls="true").message_queue
    assert amqp.effective_url == "amqps://127.0.0.1:5671/"


def test_a_port_that_cannot_be_read_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(message_queue__type="redis", message_queue__url="redis://u:hun/ter2@h:6379/0")
    assert "percent-encode" in str(caught.value)
    assert "hun" not in str(caught.value) and "ter2" not in str(caught.value)


def test_postgres_tls_comes_from_keys_or_the_url_and_must_agree() -> None:
    url = "postgresql://app:pw@db:5432/sched?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    info = settings(database__url=url, database__sslcert="/c.pem", database__sslkey="/k.pem")
    assert {k: info.postgres_conninfo[k] for k in ("sslmode", "sslrootcert", "sslcert")} == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ca.pem",
        "sslcert": "/c.pem",
    }
    env = info.eventstore_env()
    assert env["POSTGRES_SSLMODE"] == "verify-full" and env["POSTGRES_SSLKEY"] == "/k.pem"
    with pytest.raises(ConfigError, match="sslmode is given both in url and as a key"):
        settings(database__url=url, database__sslmode="require")


def test_an_unknown_postgres_query_parameter_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"query parameter 'connect_timeout' is not supported"):
        settings(database__url="postgresql://db/sched?connect_timeout=3")
    with pytest.raises(ConfigError, match=r"sslmode must be one of .* got 'sometimes'"):
        settings(database__url="postgresql://db/sched?sslmode=sometimes")


def test_postgres_tls_keys_on_sqlite_are_refused() -> None:
    with pytest.raises(ConfigError, match="apply to PostgreSQL only"):
        settings(database__sslmode="require")


def test_connection_secrets_are_every_password_in_every_form() -> None:
    secrets = settings(
        database__url="postgresql://app:db%2Fpw@db:5432/sched",
        message_queue__type="rabbitmq",
        message_queue__url="amqps://sched:mq%40pw@mq:5671/",
    ).connection_secrets
    assert {"db/pw", "db%2Fpw", "mq@pw", "mq%40pw"} <= set(secrets)


def test_redact_masks_each_secret_and_leaves_short_values_alone() -> None:
    assert redact("auth hunter2 failed for hunter2x", ["hunter2"]) == "auth *** failed for ***x"
    assert redact("a b", ["a"]) == "a b"


def test_the_log_formatter_redacts_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter(logging.Formatter("%(message)s"), ["hunter2"])
    try:
        raise RuntimeError("password hunter2 refused")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "using %s", ("hunter2",), True)
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert "hunter2" not in text and "using ***" in text and "password *** refused" in text


def test_health_checks_are_redacted_wherever_a_driver_quoted_the_password() -> None:
    checks = {
        "message_queue": {"status": "down", "error": "AUTH hunter2x failed"},
        "breakers": [{"last_error": "connect to u:hunter2x@db"}],
        "head": 3,
    }
    assert redacted(checks, ("hunter2x",)) == {
        "message_queue": {"status": "down", "error": "AUTH *** failed"},
        "breakers": [{"last_error": "connect to u:***@db"}],
        "head": 3,
    }
