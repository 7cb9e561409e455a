"""Every router of the API, in one list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from kokudaka.audit.endpoints import router as audit_router
from kokudaka.auth.endpoints import admin_router
from kokudaka.auth.endpoints import router as auth_router
from kokudaka.auth.user_endpoints import router as users_router
from kokudaka.chain.endpoints import router as chain_router
from kokudaka.core.db import require_unit_of_work
from kokudaka.farmers.endpoints import router as farmers_router
from kokudaka.harvest.endpoints import router as harvest_router
from kokudaka.investments.endpoints import router as investments_router
from kokudaka.ledger.endpoints import router as ledger_router
from kokudaka.municipalities.endpoints import router as municipalities_router
from kokudaka.notices.endpoints import router as notices_router
from kokudaka.reconcile.endpoints import router as reconcile_router
from kokudaka.redemptions.endpoints import router as redemptions_router
from kokudaka.statements.endpoints import router as statements_router
from kokudaka.supporters.endpoints import router as me_router
from kokudaka.volunteering.endpoints import router as volunteering_router
from kokudaka.wallets.endpoints import router as wallets_router
from kokudaka.works.endpoints import router as works_router

ROUTERS: tuple[APIRouter, ...] = (
    # Matched in this order: the investment routes, most of the traffic, come first.
    investments_router,
    auth_router,
    me_router,
    wallets_router,
    volunteering_router,
    ledger_router,
    audit_router,
    reconcile_router,
    municipalities_router,
    farmers_router,
    works_router,
    harvest_router,
    redemptions_router,
    notices_router,
    statements_router,
    chain_router,
    admin_router,
    users_router,
)

#: One tag per domain, in the order the API documentation lists them.
OPENAPI_TAGS: list[dict[str, Any]] = [
    {"name": "auth", "description": "Signing up as a supporter, and signing in for a token."},
    {"name": "me", "description": "The signed-in account: profile, balance, history."},
    {"name": "wallet", "description": "The caller's wallet, and moving it to an own address."},
    {"name": "works", "description": "A farmer's rice of one season (作品), open to investment."},
    {
        "name": "harvest",
        "description": "Boards on works, yield reports and their countersignature, the harvest.",
    },
    {
        "name": "redemptions",
        "description": "Rice for rice bills: redemptions, shipping, and the delivery ledger.",
    },
    {"name": "farmers", "description": "Farmers (artists), their profiles and support ledgers."},
    {
        "name": "investments",
        "description": "Yen invested in a work, confirmed into KOKU when paid.",
    },
    {
        "name": "volunteering",
        "description": "Volunteer activities, the hours logged on them and their review.",
    },
    {"name": "municipalities", "description": "Regions, towns and each town's season policy."},
    {"name": "ledger", "description": "Corrections of the KOKU ledger, by reversal."},
    {"name": "audit", "description": "Issuances and their reconciliation with the chain."},
    {"name": "chain", "description": "The chain and the KOKU token the service settles on."},
    {"name": "admin", "description": "Staff accounts (platform administrators)."},
]


def include_routers(app: FastAPI) -> None:
    """Add every router's routes to the app itself.

    ``app.include_router`` keeps each router as a nested branch that is matched
    twice per request (once to find it, once to dispatch into it), through every
    route of every router before it: about a tenth of the service's CPU time per
    request. The routers take no prefix, tags or dependencies at inclusion, so their
    routes are complete as they are, and the app matches them in one flat list.
    """
    for router in ROUTERS:
        app.router.routes.extend(router.routes)
    require_unit_of_work(app.router.routes)
