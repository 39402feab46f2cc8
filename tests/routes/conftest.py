"""Route tests: one in-process API per test module; each test must call the routes it names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.routes.support import Api, open_api


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from open_api(tmp_path_factory.mktemp("routes"))


@pytest.fixture
def api(module_api: Api, request: pytest.FixtureRequest) -> Iterator[Api]:
    """The module's API; afterwards, every route the test declared must have been called."""
    module_api.app.dependency_overrides.clear()
    module_api.recorder.seen.clear()
    yield module_api
    module_api.app.dependency_overrides.clear()
    declared = getattr(request.function, "routes", set())
    missed = declared - module_api.recorder.seen
    assert not missed, f"the test declares routes it never called: {sorted(missed)}"
