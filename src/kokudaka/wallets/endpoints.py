"""``/v1/me/wallet``: the caller's wallet, and switching it to an address they control."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from kokudaka.auth.dependencies import CurrentUser
from kokudaka.auth.service import account_of
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.wallets import service
from kokudaka.wallets.schemas import ChallengeCreate, ChallengeRead, WalletRead, WalletVerify

router = APIRouter(route_class=UnitOfWorkRoute, tags=["wallet"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only supporters and farmers hold a wallet", **_PROBLEM},
    409: {"description": "The address is another user's wallet", **_PROBLEM},
}


@router.get(
    "/v1/me/wallet",
    summary="My wallet address and who holds its key",
    responses={404: {"description": "No wallet (staff accounts)", **_PROBLEM}},
)
def my_wallet(session: DbSession, caller: CurrentUser) -> WalletRead:
    """The caller's wallet address and who holds its key (`custodial`: the service; `external`: the
    user). Supporters and farmers have one; staff accounts answer 404.
    """
    wallet = service.wallet_of(session, account_of(session, caller))
    return WalletRead(address=wallet.address, custody=wallet.custody)


@router.post(
    "/v1/me/wallet/challenge",
    status_code=status.HTTP_201_CREATED,
    summary="Start proving control of an address: get a message to sign",
    responses=_REFUSALS,
)
def create_challenge(
    body: ChallengeCreate, session: DbSession, caller: CurrentUser
) -> ChallengeRead:
    """Start moving the caller's wallet to an address they control: answers a message to sign with
    that address's key, valid for a few minutes.

    For supporters and farmers. Finish with `POST /v1/me/wallet`.
    """
    challenge = service.create_challenge(session, account_of(session, caller), body.address)
    return ChallengeRead(
        challenge_id=challenge.id,
        message=challenge.message,
        address=challenge.address,
        expires_at=challenge.expires_at,
    )


@router.post(
    "/v1/me/wallet",
    summary="Finish: send the signed challenge; new KOKU then goes to that address",
    description="KOKU already minted stays at the previous (custodial) address, whose key "
    "the service keeps; operations sent from now on go to the proven address.",
    responses={
        400: {"description": "Unknown, used or expired challenge; wrong signer", **_PROBLEM},
        **_REFUSALS,
    },
)
def set_wallet(body: WalletVerify, session: DbSession, caller: CurrentUser) -> WalletRead:
    wallet = service.verify_challenge(
        session, account_of(session, caller), body.challenge_id, body.signature
    )
    return WalletRead(address=wallet.address, custody=wallet.custody)
