"""The archive files over HTTP in process: listing, verification, and a file that is not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from application.archive.service import Archiving
from entrypoints.api import providers
from entrypoints.bootstrap import build_archiving
from tests.routes.support import Api, exercises

LIST, VERIFY = "/api/system/archives", "/api/system/archives/verify"


@pytest.fixture
def directory(api: Api, tmp_path: Path) -> Path:
    """This test's own archive directory, served by the routes."""
    container = api.container
    archiving = build_archiving(container.settings, container.app, container.database)
    archiving = Archiving(archiving.app, archiving.chain, archiving.live, tmp_path)
    api.app.dependency_overrides[providers.get_archiving] = lambda: archiving
    return tmp_path


@exercises("GET", LIST)
@exercises("POST", VERIFY)
def test_an_empty_archive_lists_no_files_and_verifies_intact(api: Api, directory: Path) -> None:
    listed = api.client().get(LIST)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["directory"] == str(directory) and body["files"] == []
    assert body["horizon"] == 0 and "live_bytes" in body
    verified = api.client().post(VERIFY).json()
    assert verified == {"intact": True, "files": 0, "events": 0, "problems": []}


@exercises("GET", LIST)
@exercises("POST", VERIFY)
def test_a_manifest_that_is_not_one_is_named_not_passed_over(api: Api, directory: Path) -> None:
    (directory / "000001.json").write_text("{not json")
    listed = api.client().get(LIST)
    assert listed.status_code == 409 and "000001.json" in listed.json()["detail"]
    verified = api.client().post(VERIFY).json()
    assert verified["intact"] is False
    assert any("000001.json" in problem["reason"] for problem in verified["problems"])
