"""Browser assets served by the service itself, from the npm packages the project installs.

Town halls often sit on a closed network: a page that loads a script from a CDN is a
white page there. So every script, style sheet and icon a page of the service uses is
served from ``node_modules`` (installed by ``make setup`` from the lock file) under
``/assets/<package>/``, and no page names another host.
"""

from __future__ import annotations

import logging
import os
from os import PathLike
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ASSET_PACKAGES", "asset_url", "mount_assets", "node_modules_dir"]

logger = logging.getLogger(__name__)

#: URL name -> folder inside ``node_modules`` whose files are served. Only these folders
#: are exposed, never ``node_modules`` as a whole (it also holds the anvil binary).
ASSET_PACKAGES: dict[str, str] = {
    "swagger-ui-dist": "swagger-ui-dist",
    "redoc": "redoc/bundles",
    # The web console's partial page updates and charts (src/kokudaka/console).
    "htmx.org": "htmx.org/dist",
    "chart.js": "chart.js/dist",
}

ASSETS_PREFIX = "/assets"


def node_modules_dir() -> Path:
    """``node_modules`` of the checkout the service runs from (an editable install)."""
    # src/kokudaka/core/assets.py -> repository root
    return Path(__file__).resolve().parents[3] / "node_modules"


def asset_url(package: str, path: str) -> str:
    """The service-relative URL of one file of an asset package."""
    if package not in ASSET_PACKAGES:
        raise KeyError(f"not an asset package: {package}")
    return f"{ASSETS_PREFIX}/{package}/{path}"


class _CachedStaticFiles(StaticFiles):
    """Static files that browsers may keep for a day (they revalidate with the ETag)."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("Cache-Control", "public, max-age=86400")
        return response


def mount_assets(app: FastAPI, root: Path | None = None) -> None:
    """Mount each asset package; a missing one is logged (its files then answer 404)."""
    base = root or node_modules_dir()
    for name, folder in ASSET_PACKAGES.items():
        directory = base / folder
        if not directory.is_dir():
            logger.warning(
                "browser assets missing at %s: run `make setup` (npm ci) in the checkout",
                directory,
            )
        app.mount(
            f"{ASSETS_PREFIX}/{name}",
            _CachedStaticFiles(directory=directory, check_dir=False),
            name=f"assets-{name}",
        )
