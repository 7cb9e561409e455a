"""The payment provider's signed webhook, as tests send it."""

from __future__ import annotations

import json
import time

import httpx

from kokudaka.investments.service import signature_for
from tests.world import World


def signed_webhook(
    world: World,
    payload: dict[str, object],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
) -> httpx.Response:
    """POST ``payload`` to the webhook, signed as the provider signs it."""
    return signed_raw_webhook(
        world, json.dumps(payload).encode(), secret=secret, timestamp=timestamp
    )


def signed_raw_webhook(
    world: World, raw: bytes, *, secret: str | None = None, timestamp: int | None = None
) -> httpx.Response:
    """POST the bytes ``raw`` to the webhook (any body, JSON or not), signed as the provider
    signs it."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = signature_for(secret or world.settings.payment_webhook_secret, ts, raw)
    return world.client.post(
        "/v1/payments/webhook",
        content=raw,
        headers={
            "Kokudaka-Signature": f"t={ts},v1={signature}",
            "Content-Type": "application/json",
        },
    )


def paid_webhook(world: World, investment_id: str, yen: int) -> httpx.Response:
    """The provider's notice that ``investment_id`` was paid ``yen`` by card."""
    return signed_webhook(
        world,
        {
            "event_id": f"evt-{investment_id}",
            "investment_id": investment_id,
            "amount_yen": yen,
            "payment_reference": "card",
        },
    )
