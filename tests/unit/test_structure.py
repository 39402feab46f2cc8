"""The structure rules that no linter checks: where dialect code lives, how long modules get."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "application", "projections", "adapters", "entrypoints")
# The only places that may know which SQL dialect they speak (docs/architecture.md).
DIALECT_HOMES = ("adapters/postgres/", "adapters/sqlite/", "entrypoints/bootstrap.py")
DIALECT_CHECK = re.compile(
    r"dialect ==|isinstance\([^)]*Database\)|^import psycopg|^from psycopg|^import sqlite3"
    r"|^from sqlite3"
)
MAX_APPLICATION_LINES = 300


def modules(*packages: str) -> list[Path]:
    """Every Python module of these packages, as a path relative to the repository."""
    return sorted(p.relative_to(ROOT) for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def dialect_checks(paths: list[Path]) -> list[str]:
    """`path:line: text` of each line that branches on the dialect or imports a driver."""
    return [
        f"{path}:{number}: {text.strip()}"
        for path in paths
        for number, text in enumerate((ROOT / path).read_text().splitlines(), start=1)
        if DIALECT_CHECK.search(text)
    ]


def test_only_the_dialect_adapters_and_the_composition_root_know_the_dialect() -> None:
    outside = [p for p in modules(*PACKAGES) if not str(p).startswith(DIALECT_HOMES)]
    assert dialect_checks(outside) == []


def test_the_dialect_scan_finds_the_driver_imports_of_the_adapters() -> None:
    # The scan above proves nothing unless it recognises dialect code where it does live.
    found = dialect_checks(modules("adapters/postgres", "adapters/sqlite"))
    assert any("import psycopg" in line for line in found)
    assert any("import sqlite3" in line for line in found)


def test_no_module_under_application_is_over_300_lines() -> None:
    lengths = {str(p): len((ROOT / p).read_text().splitlines()) for p in modules("application")}
    assert {p: n for p, n in lengths.items() if n > MAX_APPLICATION_LINES} == {}
    assert lengths, "no module found under application/"


def test_the_cli_contract_names_every_cli_module() -> None:
    # import-linter cannot match part of a module name: a new cli_*.py must be listed.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [
        c for c in config["contracts"] if c.get("forbidden_modules") == ["entrypoints.api"]
    ]
    cli = {f"entrypoints.{p.stem}" for p in (ROOT / "entrypoints").glob("cli*.py")}
    assert set(contract["source_modules"]) == cli


def test_the_longest_first_order_names_modules_that_exist() -> None:
    from tests.conftest import LONGEST_FIRST

    assert [m for m in LONGEST_FIRST if not (ROOT / m).is_file()] == []
