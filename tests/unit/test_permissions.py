"""The route x role table: one place in code, every route in it, printed in docs/security.md."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.principal import ROLES, Principal
from entrypoints.api.app import create_api
from entrypoints.api.authentication import exposure_problem
from entrypoints.api.permissions import ROLE_RIGHTS, ROUTE_RIGHTS, Right, has_right, markdown_table
from entrypoints.bootstrap import build_container
from entrypoints.loopback import is_loopback_host
from entrypoints.settings import AuthSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SECURITY_DOC = ROOT / "docs" / "security.md"
BEGIN, END = "<!-- role-table:begin -->", "<!-- role-table:end -->"


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("openapi") / "s.db"
    container = build_container(
        load_settings(None, {"SCHEDULER_DATABASE__URL": f"sqlite:///{path}"})
    )
    try:
        yield create_api(container).openapi()
    finally:
        container.close()


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_every_route_of_the_openapi_document_is_in_the_table(openapi: dict[str, Any]) -> None:
    assert operations(openapi) == set(ROUTE_RIGHTS)


def test_every_operation_but_the_public_ones_declares_the_credential(
    openapi: dict[str, Any],
) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`sk_...`) or a JWT, as a bearer token.",
    }
    assert schemes["APIKeyHeader"]["in"] == "header"
    for method, path in operations(openapi):
        security = openapi["paths"][path][method.lower()].get("security")
        if ROUTE_RIGHTS[(method, path)] is Right.PUBLIC:
            assert security is None, path
        else:
            assert security == [{"HTTPBearer": []}, {"APIKeyHeader": []}], (method, path)


def test_docs_security_prints_the_table_from_the_code() -> None:
    text = SECURITY_DOC.read_text()
    printed = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()

    assert printed == markdown_table().strip(), (
        "docs/security.md is out of date: paste `python -m entrypoints.api.permissions`"
    )


def test_each_role_has_the_rights_of_the_one_below_it() -> None:
    ladder = ["viewer", "operator", "editor", "admin"]
    for lower, higher in itertools.pairwise(ladder):
        assert ROLE_RIGHTS[lower] < ROLE_RIGHTS[higher]
    assert ROLE_RIGHTS["worker"] == {Right.WORKER} and set(ROLE_RIGHTS) == set(ROLES)


def test_only_admin_writes_shell_and_python_tasks_manages_keys_and_the_quarantine() -> None:
    for right in (Right.EDIT_CODE_TASKS, Right.MANAGE_KEYS, Right.QUARANTINE):
        holders = [r for r in ROLES if has_right(Principal("key", "p", r), right)]
        assert holders == ["admin"], right


def test_the_anonymous_loopback_switch_is_only_on_in_the_development_config() -> None:
    development = load_settings(ROOT / "config/development.toml", {})
    production = load_settings(ROOT / "config/production.toml", {"POSTGRES_PASSWORD": "pw"})

    assert load_settings(None, {}).auth.allow_anonymous_loopback is False
    assert production.auth.allow_anonymous_loopback is False
    assert development.auth.allow_anonymous_loopback is True


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_anonymous_loopback_on_a_loopback_address_is_allowed(host: str) -> None:
    assert is_loopback_host(host)
    assert exposure_problem(AuthSettings(allow_anonymous_loopback=True), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "scheduler.example.com"])
def test_anonymous_loopback_on_any_other_address_refuses_to_start(host: str) -> None:
    problem = exposure_problem(AuthSettings(allow_anonymous_loopback=True), host)

    assert problem is not None and re.search("not a loopback address", problem)
    assert exposure_problem(AuthSettings(allow_anonymous_loopback=False), host) is None
