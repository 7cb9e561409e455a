"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, served offline.

FastAPI's own pages load Swagger UI and Redoc from a CDN; these load them from the
service (:mod:`kokudaka.core.assets`), so the documentation works on a closed network.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse

from kokudaka.core.assets import asset_url

__all__ = ["DOCS_URL", "OAUTH2_REDIRECT_URL", "REDOC_URL", "add_api_docs"]

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def add_api_docs(app: FastAPI) -> None:
    """Add the two documentation pages; the app is built with ``docs_url=None``."""
    title = f"{app.title} {app.version}"

    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=title,
            swagger_js_url=root + asset_url("swagger-ui-dist", "swagger-ui-bundle.js"),
            swagger_css_url=root + asset_url("swagger-ui-dist", "swagger-ui.css"),
            swagger_favicon_url=root + asset_url("swagger-ui-dist", "favicon-32x32.png"),
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
        )

    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=title,
            redoc_js_url=root + asset_url("redoc", "redoc.standalone.js"),
            redoc_favicon_url=root + asset_url("swagger-ui-dist", "favicon-32x32.png"),
            with_google_fonts=False,
        )

    app.add_api_route(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        OAUTH2_REDIRECT_URL, swagger_ui_redirect, methods=["GET"], include_in_schema=False
    )
    app.add_api_route(REDOC_URL, redoc, methods=["GET"], include_in_schema=False)
