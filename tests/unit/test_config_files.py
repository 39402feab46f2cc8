"""The shipped files under config/ load cleanly, alone and laid over each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from entrypoints.live_config import RELOADABLE
from entrypoints.settings import Settings, load_settings

CONFIG = Path(__file__).resolve().parents[2] / "config"
SHIPPED = ("development", "production", "rabbitmq", "redis-stream", "scheduler")
PRODUCTION_ENV = {"POSTGRES_PASSWORD": "pw", "JWT_SECRET": "j" * 40}
_KEY = re.compile(r"^#?\s*([a-z_]+)\s*=")


def files(*names: str) -> list[Path]:
    return [CONFIG / f"{name}.toml" for name in names]


def test_the_seeds_files_are_all_there() -> None:
    assert {p.stem for p in CONFIG.glob("*.toml")} >= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_file_loads_alone(name: str) -> None:
    env = PRODUCTION_ENV if name == "production" else {}
    assert isinstance(load_settings(files(name), env), Settings)


def test_scheduler_toml_is_exactly_the_defaults() -> None:
    assert load_settings(files("scheduler"), {}) == Settings()


def test_scheduler_toml_names_every_key_and_marks_just_the_reloadable_ones() -> None:
    named, marked, section = set(), set(), ""
    for line in (CONFIG / "scheduler.toml").read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section and (match := _KEY.match(line)):
            named.add(f"{section}.{match.group(1)}")
            if "(reloadable)" in line:
                marked.add(f"{section}.{match.group(1)}")
    every = {
        f"{section}.{key}"
        for section, field in Settings.model_fields.items()
        for key in field.annotation.model_fields  # type: ignore[union-attr]
    }
    assert every - named == set(), "keys missing from config/scheduler.toml"
    assert named - every == set(), "config/scheduler.toml names keys that do not exist"
    assert marked == RELOADABLE


def test_production_over_rabbitmq_uses_the_seeds_host_and_password() -> None:
    env = {**PRODUCTION_ENV, "RABBITMQ_HOST": "mq.internal", "RABBITMQ_PASSWORD": "s3cret"}
    settings = load_settings(files("production", "rabbitmq"), env)
    queue = settings.message_queue
    assert (queue.type, queue.url, queue.host, queue.port) == (
        "rabbitmq",
        None,
        "mq.internal",
        5672,
    )
    assert queue.effective_url == "amqp://guest:s3cret@mq.internal:5672/"
    assert settings.database_kind == "postgres"  # the rest of production stays


def test_development_over_redis_stream_is_distributed_on_redis() -> None:
    settings = load_settings(
        files("development", "redis-stream"), {"REDIS_URL": "redis://r:6379/1"}
    )
    assert settings.message_queue.type == "redis"
    assert settings.message_queue.effective_url == "redis://r:6379/1"
    assert settings.auth.allow_anonymous_loopback  # development's own keys stay


def test_a_bus_file_over_another_bus_file_replaces_it() -> None:
    settings = load_settings(files("redis-stream", "rabbitmq"), {})
    assert settings.message_queue.type == "rabbitmq"
    assert settings.message_queue.effective_url == "amqp://guest:guest@127.0.0.1:5672/"
    back = load_settings(files("rabbitmq", "redis-stream"), {})
    assert back.message_queue.effective_url == "redis://guest:guest@127.0.0.1:6379/0"
