"""Every router of the API, in one list."""

from __future__ import annotations

from fastapi import FastAPI

from kokudaka.audit.endpoints import router as audit_router
from kokudaka.auth.endpoints import router as auth_router
from kokudaka.chain.endpoints import router as chain_router
from kokudaka.farmers.endpoints import router as farmers_router
from kokudaka.investments.endpoints import router as investments_router
from kokudaka.ledger.endpoints import router as ledger_router
from kokudaka.municipalities.endpoints import router as municipalities_router
from kokudaka.supporters.endpoints import router as me_router
from kokudaka.volunteering.endpoints import router as volunteering_router
from kokudaka.wallets.endpoints import router as wallets_router
from kokudaka.works.endpoints import router as works_router


def include_routers(app: FastAPI) -> None:
    for router in (
        auth_router,
        me_router,
        wallets_router,
        investments_router,
        ledger_router,
        volunteering_router,
        audit_router,
        municipalities_router,
        farmers_router,
        works_router,
        chain_router,
    ):
        app.include_router(router)
