"""Adding the console to the service's app."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from kokudaka.console.pages import (
    accounts,
    audit_log,
    auth,
    deliveries,
    farmer,
    harvest,
    reconciliation,
    region,
    town,
)

STATIC_DIR = Path(__file__).parent / "static"

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    farmer.router,
    town.router,
    reconciliation.router,
    region.router,
    accounts.router,
    audit_log.router,
    harvest.router,
    deliveries.router,
)


def install_console(app: FastAPI) -> None:
    """The console's pages (matched in the app's one flat route list, like the API's)
    and its own style sheet and scripts at ``/console/static``."""
    for router in ROUTERS:
        app.router.routes.extend(router.routes)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
