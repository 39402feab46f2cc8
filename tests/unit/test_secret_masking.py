"""domain/secrets.py: which names are secret, and how every surface shows them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from domain.secrets import (
    MASK,
    is_secret_name,
    mask_text,
    masked_config,
    masked_entries,
    masked_payload,
    masked_spec,
    redact,
    secret_values,
)

SEALED = {"enc": "v1:0a1b2c3d:AAAA"}


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "password",
        "PGPASSWD",
        "API_TOKEN",
        "apiToken",
        "CLIENT_SECRET",
        "API_KEY",
        "apiKey",
        "X-Api-Key",
        "APIKEY",
        "aws_credentials",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "Set-Cookie",
        "PRIVATE_KEY_PATH",
        "X-Hub-Signature",
        "SESSION_ID",
        "DB_PWD",
        "SENTRY_DSN",
        "jwt_secret",
        "keys",
    ],
)
def test_secret_looking_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["MODE", "MONKEY_COUNT", "KEYBOARD", "DAY", "PATH", "LOG_LEVEL", "url", "host"]
)
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_env_is_masked_by_pattern_by_secret_env_and_when_sealed() -> None:
    spec = {
        "env": {"DB_PASSWORD": "hunter2", "LISTED": "x", "SEALED": SEALED, "MODE": "a"},
        "secret_env": ["LISTED"],
        "http": {"headers": {"Authorization": "Bearer tok123", "Accept": "json"}},
        "command": "curl https://bob:hunter2@example.com/x",
        "args": ["postgresql://u:pw@db/x", "plain"],
    }
    shown = masked_spec(spec)
    assert shown["env"] == {"DB_PASSWORD": MASK, "LISTED": MASK, "SEALED": MASK, "MODE": "a"}
    assert shown["http"]["headers"] == {"Authorization": MASK, "Accept": "json"}
    assert shown["command"] == "curl https://bob:***@example.com/x"
    assert shown["args"] == ["postgresql://u:***@db/x", "plain"]
    assert spec["env"]["DB_PASSWORD"] == "hunter2"  # the input is not changed


def test_an_event_payload_is_masked_at_any_depth() -> None:
    payload = {
        "task": {"env": {"X": SEALED, "TOKEN": "tok123", "MODE": "m"}, "secret_env": []},
        "params": {"API_TOKEN": "tok123", "DAY": "mon", "S": SEALED},
        "changes": {"http": {"headers": {"Cookie": "a=b"}}},
        "output": "see https://u:hunter2@h/",
        "nested": [{"secret": "hunter2"}],
    }
    shown = masked_payload(payload)
    assert shown["task"]["env"] == {"X": MASK, "TOKEN": MASK, "MODE": "m"}
    assert shown["params"] == {"API_TOKEN": MASK, "DAY": "mon", "S": MASK}
    assert shown["changes"]["http"]["headers"] == {"Cookie": MASK}
    assert shown["output"] == "see https://u:***@h/"
    assert shown["nested"] == [MASK]
    assert "hunter2" not in json.dumps(shown) and "tok123" not in json.dumps(shown)


def test_params_are_masked_by_name_and_when_sealed() -> None:
    assert masked_entries({"API_TOKEN": "t", "S": SEALED, "DAY": "1"}) == {
        "API_TOKEN": MASK,
        "S": MASK,
        "DAY": "1",
    }


def test_redact_masks_every_occurrence_and_the_encoded_forms() -> None:
    secret = "hunter2+/é"
    text = (
        f"a {secret} b {secret}\n"
        f"url {quote(secret, safe='')}\n"
        f"json {json.dumps(secret)[1:-1]}\n"
        f"b64 {base64.b64encode(secret.encode()).decode()}"
    )
    shown = redact(text, [secret])
    assert "hunter2" not in shown
    assert shown.count(MASK) == 5


def test_redact_masks_the_token_of_an_authorization_value_alone_too() -> None:
    assert redact("sent Bearer tok123; token tok123", ["Bearer tok123"]) == "sent ***; token ***"


def test_redact_leaves_short_values_alone_and_prefers_the_longest_secret() -> None:
    assert redact("abc said abc", ["abc"]) == "abc said abc"
    assert redact("token tok123456", ["tok123", "tok123456"]) == f"token {MASK}"


def test_redact_masks_a_secret_cut_by_the_start_of_a_truncated_tail() -> None:
    tail = "[... 100 bytes truncated ...]\nter2 and more"
    assert redact(tail, ["hunter2"]) == f"[... 100 bytes truncated ...]\n{MASK} and more"


def test_redact_masks_a_secret_cut_by_the_end_of_a_text() -> None:
    assert redact("the value is hunt", ["hunter2"]) == f"the value is {MASK}"
    assert redact("the value is hu", ["hunter2"]) == "the value is hu"  # 2 characters


def test_mask_text_masks_url_passwords_and_secret_assignments() -> None:
    line = (
        "connect postgresql://app:s3cr3t@db:5432/x failed; password=hunter2 token: tok123 "
        "{'API_TOKEN': 'tok123'} Authorization: Bearer tok123 mode=fast"
    )
    shown = mask_text(line)
    assert "s3cr3t" not in shown and "hunter2" not in shown and "tok123" not in shown
    assert "mode=fast" in shown and "postgresql://app:***@db:5432/x" in shown


def test_config_is_masked_by_key_name_and_url_password() -> None:
    config = {
        "database": {"url": "postgresql://u:pw1234@h/db", "pool_size": 5},
        "message_queue": {"password": "guest1", "username": "guest"},
        "auth": {"jwt_secret": "s" * 32, "jwt_audience": "sched"},
        "secrets": {"keys": "a2V5", "development_key_file": None},
    }
    shown = masked_config(config)
    assert shown["database"] == {"url": "postgresql://u:***@h/db", "pool_size": 5}
    assert shown["message_queue"] == {"password": MASK, "username": "guest"}
    assert shown["auth"] == {"jwt_secret": MASK, "jwt_audience": "sched"}
    assert shown["secrets"] == {"keys": MASK, "development_key_file": None}


def test_secret_values_are_those_of_secret_names_or_listed_ones() -> None:
    assert secret_values({"DB_PASSWORD": "p", "X": "x", "MODE": "m"}, ["X"]) == ["p", "x"]
