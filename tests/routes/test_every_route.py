"""Every route of the API has an in-process test: one declared with @exercises in this folder."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts

from tests.routes.support import Api, Route

HERE = Path(__file__).parent


def declared_routes() -> dict[Route, list[str]]:
    """Route -> the tests of this folder that declare they call it."""
    declared: dict[Route, list[str]] = {}
    for module_info in pkgutil.iter_modules([str(HERE)]):
        if not module_info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"tests.routes.{module_info.name}")
        for name, test in vars(module).items():
            for route in getattr(test, "routes", ()) if name.startswith("test_") else ():
                declared.setdefault(route, []).append(f"{module_info.name}.{name}")
    return declared


def served_routes(api: Api) -> set[Route]:
    return {
        (method, str(context.path))
        for context in iter_route_contexts(api.app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }


def test_every_route_of_the_api_has_an_in_process_test(api: Api) -> None:
    served, declared = served_routes(api), declared_routes()

    untested = sorted(served - set(declared))
    assert not untested, f"routes without a test in tests/routes (use @exercises): {untested}"


def test_every_route_a_test_declares_is_served(api: Api) -> None:
    served, declared = served_routes(api), declared_routes()

    unknown = {route: tests for route, tests in declared.items() if route not in served}
    assert not unknown, f"tests declare routes the API does not serve: {unknown}"
