"""Configuration: defaults, files, ${VAR} substitution, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scheduler.toml"
    path.write_text(text)
    return path


def test_without_a_file_the_embedded_defaults_apply() -> None:
    settings = load_settings(None, {})
    assert settings.database_kind == "sqlite"
    assert settings.sqlite_path == Path("var/scheduler.db")
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8080)
    assert settings.message_queue.type == "memory"


def test_the_file_comes_from_the_option_or_scheduler_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9001\n")
    assert load_settings(path, {}).api.port == 9001
    assert load_settings(None, {"SCHEDULER_CONFIG": str(path)}).api.port == 9001


def test_environment_overrides_win_and_are_parsed_as_toml_literals(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9001\n")
    settings = load_settings(
        path,
        {
            "SCHEDULER_API__PORT": "9100",
            "SCHEDULER_WORKER__EXECUTORS": '["shell"]',
            "SCHEDULER_DATABASE__URL": "postgresql://u:p@db:5433/sched",
            "SCHEDULER_OBSERVABILITY__METRICS_ENABLED": "false",
        },
    )
    assert settings.api.port == 9100
    assert settings.worker.executors == ["shell"]
    assert settings.database_kind == "postgres"
    assert settings.observability.metrics_enabled is False


def test_variables_are_substituted_inside_files(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://s:${PW}@${HOST:-localhost}:5432/db"\n')
    settings = load_settings(path, {"PW": "secret"})
    assert settings.database.url == "postgresql://s:secret@localhost:5432/db"


def test_a_missing_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://s:${PW}@h/db"\n')
    with pytest.raises(ConfigError, match=r"database\.url: environment variable PW is not set"):
        load_settings(path, {})


def test_unknown_keys_and_sections_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.prot"):
        load_settings(write(tmp_path, "[api]\nprot = 1\n"), {})
    with pytest.raises(ConfigError, match="databse"):
        load_settings(write(tmp_path, "[databse]\nurl = 'x'\n"), {})


def test_an_invalid_port_names_api_port(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.port: .*integer.*'abc'"):
        load_settings(write(tmp_path, '[api]\nport = "abc"\n'), {})


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite://", "postgresql://h:5432/", "nonsense"])
def test_a_bad_database_url_names_database_url(url: str) -> None:
    with pytest.raises(ConfigError, match=r"database\.url"):
        load_settings(None, {"SCHEDULER_DATABASE__URL": url})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[api\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, {})


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", {})


def test_both_shipped_config_files_load() -> None:
    development = load_settings(ROOT / "config/development.toml", {})
    production = load_settings(ROOT / "config/production.toml", {"POSTGRES_PASSWORD": "pw"})
    assert development.database_kind == "sqlite"
    assert production.database_kind == "postgres"
    assert production.message_queue.effective_url == "redis://127.0.0.1:6379/0"


def test_the_event_store_environment_for_sqlite() -> None:
    env = load_settings(None, {"SCHEDULER_DATABASE__URL": "sqlite:////data/s.db"}).eventstore_env()
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "/data/s.db",
        "SQLITE_LOCK_TIMEOUT": "5",
    }


def test_the_event_store_environment_for_postgres_decodes_the_password() -> None:
    settings = load_settings(
        None, {"SCHEDULER_DATABASE__URL": "postgresql://app:p%40ss%3Aw@db.local:6543/sched"}
    )
    env = settings.eventstore_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.local",
        "6543",
        "sched",
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("app", "p@ss:w")
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"
    assert env["POSTGRES_LOCK_TIMEOUT"] == "5"
    assert "p%40ss" not in settings.masked_database_url
