"""The ASGI application: ``create_app`` wires settings, database, errors and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from kokudaka import __version__
from kokudaka.core.api_docs import add_api_docs
from kokudaka.core.assets import mount_assets
from kokudaka.core.db import create_db_engine, create_db_limiter, create_sessionmaker
from kokudaka.core.errors import install_error_handlers
from kokudaka.core.openapi import install_openapi
from kokudaka.core.settings import Settings, get_settings
from kokudaka.routes import OPENAPI_TAGS, include_routers

DESCRIPTION = """
Kokudaka (石高) is a community currency denominated in rice for Japanese rice towns.
Supporters invest yen in a farmer's work (that season's rice) and volunteer on farms;
both earn KOKU (1 KOKU = 1 石 = 1,000 合). Every amount is shown as integer go and as
KOKU text. Every error is an RFC 9457 problem (`application/problem+json`) with a
stable `code`; messages follow `Accept-Language` (Japanese or English).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = None
        if settings.chain_enabled:
            # The node, the KOKU deployment check and the settlement worker (chain/runtime.py).
            from kokudaka.chain.runtime import ChainRuntime

            runtime = ChainRuntime(settings, app.state.sessionmaker)
            await run_in_threadpool(runtime.start)
        app.state.chain_runtime = runtime
        try:
            yield
        finally:
            if runtime is not None:
                await run_in_threadpool(runtime.stop)
            app.state.engine.dispose()

    app = FastAPI(
        title="Kokudaka API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
        # Served from the service's own assets instead (core/api_docs.py).
        docs_url=None,
        redoc_url=None,
    )
    engine = create_db_engine(settings.sqlalchemy_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.db_limiter = create_db_limiter(engine)
    install_error_handlers(app)
    include_routers(app)
    install_openapi(app)
    add_api_docs(app)
    mount_assets(app)
    return app
