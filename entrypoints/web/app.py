"""The UI as its own small FastAPI application, mounted by the API at /ui."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from adapters.key_directory import KeyDirectory
from entrypoints.api import providers
from entrypoints.api.errors import install_error_handlers
from entrypoints.bootstrap import Container
from entrypoints.web import auth, events, overview, runs, system, task_forms, tasks, workers
from entrypoints.web.freshness import settle_to_seen
from entrypoints.web.rights import UI_RIGHTS, authorize_page
from entrypoints.web.session import SessionSealer

PAGES = (
    auth,
    overview,
    task_forms,
    tasks,
    runs,
    workers,
    events,
    system,
)  # task_forms first: /tasks/new before /tasks/{ref}


def create_web(container: Container, sealer: SessionSealer, key_directory: KeyDirectory) -> FastAPI:
    """Every page and form, behind the UI's rights table."""
    web = FastAPI(
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(authorize_page), Depends(settle_to_seen)],
    )
    providers.attach(web, container, key_directory)  # its pages take the API's dependencies
    providers.attach_sealer(web, sealer)
    install_error_handlers(web)
    for module in PAGES:
        web.include_router(module.router)
    served = {
        (method, str(context.path))
        for context in iter_route_contexts(web.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    if served != set(UI_RIGHTS):
        raise RuntimeError(
            "entrypoints/web/rights.py UI_RIGHTS does not match the pages:"
            f" not in the table {sorted(served - set(UI_RIGHTS))};"
            f" no such page {sorted(set(UI_RIGHTS) - served)}"
        )
    return web
