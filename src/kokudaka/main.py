"""The ASGI application: ``create_app`` wires settings, database, errors and routers."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from kokudaka import __version__
from kokudaka.chain.head import BlockSource, ChainHead
from kokudaka.console.app import install_console
from kokudaka.core.api_docs import add_api_docs
from kokudaka.core.assets import mount_assets
from kokudaka.core.db import Database
from kokudaka.core.errors import install_error_handlers
from kokudaka.core.heap import startup_objects_frozen
from kokudaka.core.openapi import install_openapi
from kokudaka.core.request_guard import RequestGuard
from kokudaka.core.settings import Settings, get_settings
from kokudaka.routes import OPENAPI_TAGS, include_routers

DESCRIPTION = """
Kokudaka (石高) is a community currency denominated in rice for Japanese rice towns.
Supporters invest yen in a farmer's work (that season's rice) and volunteer on farms;
both earn KOKU (1 KOKU = 1 石 = 1,000 合). Every amount is shown as integer go and as
KOKU text. Every error is an RFC 9457 problem (`application/problem+json`) with a
stable `code`; messages follow `Accept-Language` (Japanese or English).
"""

#: CPython's own default recursion limit.
RECURSION_LIMIT = 1000


def restore_recursion_limit() -> None:
    """Put the recursion limit back to CPython's default once web3 is loaded.

    Importing web3 imports ``py_ecc``, which raises the process's recursion limit to
    100,000. A parser that recurses once per level (``json``) then overflows the C
    stack before it reaches the limit: a deeply nested request body killed the process
    (API, worker and supervisor) with a segfault instead of raising RecursionError.
    The request guard also refuses deep bodies before any parser sees them
    (``core/request_guard.py``); this keeps the interpreter's own guard working.
    """
    import web3  # noqa: F401  (loaded first, so that its change is the one undone)

    sys.setrecursionlimit(RECURSION_LIMIT)


def _current_chain_client(app: FastAPI) -> Callable[[], BlockSource | None]:
    """The client of the app's chain runtime once its deployment is checked, else None
    (read each time: tests and a late-starting chain set the runtime after start)."""

    def current() -> BlockSource | None:
        runtime = getattr(app.state, "chain_runtime", None)
        if runtime is None or runtime.deployment is None:
            return None
        client: BlockSource = runtime.client
        return client

    return current


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # `kokudaka serve` starts the chain itself, before the server, so that a refusal
        # (a lost contract, a port taken) is one clear line; otherwise it starts here.
        runtime = app.state.chain_runtime
        if runtime is None and settings.chain_enabled:
            # The node, the KOKU deployment check and the settlement worker (settlement/runtime.py).
            from kokudaka.settlement.runtime import ChainRuntime

            runtime = ChainRuntime(settings, app.state.sessionmaker)
            await run_in_threadpool(runtime.start)
        app.state.chain_runtime = runtime
        try:
            async with anyio.create_task_group() as background:
                # GET /v1/chain answers from this, never from a node call of its own.
                background.start_soon(app.state.chain_head.keep_fresh, _current_chain_client(app))
                try:
                    with startup_objects_frozen():
                        yield
                finally:
                    background.cancel_scope.cancel()
        finally:
            if runtime is not None:
                await run_in_threadpool(runtime.stop)
            app.state.database.dispose()

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
    database = Database.connect(settings.sqlalchemy_url)
    app.state.settings = settings
    app.state.database = database
    app.state.chain_head = ChainHead()
    app.state.chain_runtime = None
    # The writer's, for the chain runtime.
    app.state.engine = database.engine
    app.state.sessionmaker = database.sessions
    install_error_handlers(app)
    include_routers(app)
    install_openapi(app)
    add_api_docs(app)
    mount_assets(app)
    install_console(app)
    # Around every route: a request's body is bounded and read in full before any route runs.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_request_body_bytes,
        body_timeout_seconds=settings.request_body_timeout_seconds,
    )
    restore_recursion_limit()
    return app
