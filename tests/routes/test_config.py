"""GET /api/system/config: the configuration in force, secrets masked, for admins only."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

import pytest

from adapters.aes_secret_box import AesGcmSecretBox, encrypt_config_value
from entrypoints.api import providers
from entrypoints.live_config import RELOADABLE, LiveConfig
from entrypoints.settings import load_sourced_settings
from tests.routes.support import Api, exercises

KEY = os.urandom(32)
PATH = "/api/system/config"


def live_config(tmp_path: Path) -> LiveConfig:
    """A configuration with a secret of every kind, from two files and a variable."""
    token = encrypt_config_value(AesGcmSecretBox([KEY]), "plain-cors-never-shown")
    base = tmp_path / "base.toml"
    base.write_text(
        '[database]\nurl = "postgresql://app:hunter2@db.internal:5432/scheduler"\n'
        f'[auth]\njwt_secret = "{"j" * 40}"\n'
    )
    over = tmp_path / "over.toml"
    over.write_text(f'[worker]\nname = "{token}"\n[api]\nrate_limit_burst = 7\n')
    environ = {
        "SCHEDULER_SECRET_KEY": base64.b64encode(KEY).decode(),
        "SCHEDULER_API__PORT": "9000",
    }
    return LiveConfig.loaded(load_sourced_settings([base, over], environ))


@exercises("GET", PATH)
def test_an_admin_sees_the_effective_config_with_every_secret_masked(
    api: Api, tmp_path: Path
) -> None:
    live = live_config(tmp_path)
    api.app.dependency_overrides[providers.get_live_config] = lambda: live

    response = api.client().get(PATH)  # the anonymous loopback caller is an admin

    assert response.status_code == 200, response.text
    body = response.json()
    settings = body["settings"]
    assert settings["database"]["url"] == "postgresql://app:***@db.internal:5432/scheduler"
    assert settings["auth"]["jwt_secret"] == "***"
    assert settings["worker"]["name"] == "***"  # written encrypted: a secret whatever its name
    assert settings["secrets"]["keys"] == "***"
    assert settings["api"] == {**settings["api"], "port": 9000, "rate_limit_burst": 7}
    for hidden in ("hunter2", "j" * 40, "plain-cors-never-shown", base64.b64encode(KEY).decode()):
        assert hidden not in response.text
    assert body["files"] == [str(tmp_path / "base.toml"), str(tmp_path / "over.toml")]
    assert body["origins"]["api.port"] == "SCHEDULER_API__PORT"
    assert body["origins"]["api.rate_limit_burst"] == str(tmp_path / "over.toml")
    assert body["version"] == 1 and body["loaded_at"] == live.current.loaded_at.isoformat()
    assert body["reloadable"] == sorted(RELOADABLE)


@exercises("GET", PATH)
def test_it_shows_the_config_in_force_after_a_reload(api: Api, tmp_path: Path) -> None:
    live = live_config(tmp_path)
    api.app.dependency_overrides[providers.get_live_config] = lambda: live
    before = api.client().get(PATH).json()

    live.swap(dataclasses.replace(live.current, version=2))

    assert api.client().get(PATH).json()["version"] == before["version"] + 1


@exercises("GET", PATH)
def test_the_process_without_files_says_so(api: Api) -> None:
    body = api.client().get(PATH).json()
    assert body["files"] == [] and body["version"] == 1
    assert body["settings"]["database"]["url"].startswith("sqlite:///")


@pytest.mark.parametrize("role", ["viewer", "operator", "editor", "worker"])
@exercises("GET", PATH)
def test_only_an_admin_may_read_it(api: Api, role: str) -> None:
    response = api.client(api.key(role)).get(PATH)
    assert response.status_code == 403
    assert "read_config" in response.json()["detail"]
