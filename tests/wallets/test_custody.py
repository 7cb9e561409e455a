"""Custodial wallets: assigned at sign-up, the key encrypted at rest and bound to its user."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.refs import issuance_ref
from kokudaka.core.settings import Settings
from kokudaka.models import User
from kokudaka.wallets.custody import (
    WalletKeyError,
    decrypt_key,
    decrypt_wallet_key,
    encrypt_key,
)
from tests.chain.conftest import MINTER_KEY, SEASON
from tests.world import PASSWORD, World


def _user(db: sessionmaker[Session], user_id: uuid.UUID) -> User:
    with db() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def test_sign_up_assigns_a_custodial_wallet_whose_key_decrypts(
    world: World, client: httpx.Client, settings: Settings
) -> None:
    person = world.new_supporter("hanako")
    wallet = client.get("/v1/me/wallet", headers=person.headers)
    assert wallet.status_code == 200, wallet.text
    address = wallet.json()["address"]
    assert wallet.json()["custody"] == "custodial"
    assert address == to_checksum_address(address)
    assert client.get("/v1/me", headers=person.headers).json()["wallet_address"] == address

    user = _user(world.db, person.id)
    assert user.wallet_address == address
    assert user.wallet_key_ciphertext is not None
    key = decrypt_wallet_key(settings, user)
    assert len(key) == 32
    assert Account.from_key(key).address == address


def test_every_supporter_gets_a_different_wallet(world: World, client: httpx.Client) -> None:
    addresses = {
        client.get("/v1/me/wallet", headers=world.new_supporter().headers).json()["address"]
        for _ in range(3)
    }
    assert len(addresses) == 3


def test_farmers_get_a_wallet_and_staff_do_not(
    world: World, client: httpx.Client, settings: Settings
) -> None:
    response = client.post(
        "/v1/farmers",
        headers=world.a.admin.headers,
        json={
            "email": "new-farmer@example.jp",
            "password": PASSWORD,
            "name": "佐藤一郎",
            "farm_name": "佐藤農園",
            "story": "",
            "varieties": ["コシヒカリ"],
        },
    )
    assert response.status_code == 201, response.text
    farmer = _user(world.db, uuid.UUID(response.json()["user_id"]))
    assert farmer.wallet_address is not None
    assert Account.from_key(decrypt_wallet_key(settings, farmer)).address == farmer.wallet_address

    staff = client.post(
        "/v1/admin/users",
        headers=world.platform_admin.headers,
        json={
            "email": "second-admin@example.jp",
            "password": PASSWORD,
            "display_name": "admin",
            "role": "town_admin",
            "municipality_id": str(world.a.municipality_id),
        },
    )
    assert staff.status_code == 201, staff.text
    assert staff.json()["wallet_address"] is None
    missing = client.get("/v1/me/wallet", headers=world.a.admin.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_a_tampered_or_swapped_ciphertext_does_not_decrypt(
    world: World, settings: Settings
) -> None:
    first = _user(world.db, world.new_supporter().id)
    second = _user(world.db, world.new_supporter().id)
    assert first.wallet_key_ciphertext is not None
    assert second.wallet_key_ciphertext is not None

    tampered = bytearray(first.wallet_key_ciphertext)
    tampered[-1] ^= 0x01
    with pytest.raises(WalletKeyError):
        decrypt_key(settings, first.id, bytes(tampered))
    with pytest.raises(WalletKeyError):
        decrypt_key(settings, first.id, first.wallet_key_ciphertext[:12])
    # The user id is the associated data: a ciphertext copied onto another row is refused.
    with pytest.raises(WalletKeyError):
        decrypt_key(settings, second.id, first.wallet_key_ciphertext)
    with world.db.begin() as session:
        row = session.get(User, second.id)
        assert row is not None
        row.wallet_key_ciphertext = first.wallet_key_ciphertext
    with pytest.raises(WalletKeyError):
        decrypt_wallet_key(settings, _user(world.db, second.id))
    # Another service secret cannot open it either.
    other = settings.model_copy(update={"wallet_encryption_key": "another-secret-0123456789"})
    with pytest.raises(WalletKeyError):
        decrypt_key(other, first.id, first.wallet_key_ciphertext)


def test_encryption_uses_a_fresh_nonce_and_round_trips(settings: Settings) -> None:
    user_id = uuid.uuid4()
    key = bytes(Account.create().key)
    one, two = encrypt_key(settings, user_id, key), encrypt_key(settings, user_id, key)
    assert one != two
    assert key not in one
    assert decrypt_key(settings, user_id, one) == key == decrypt_key(settings, user_id, two)


def test_the_decrypted_key_signs_for_the_custodial_address_on_chain(
    world: World, settings: Settings, chain: ChainClient, minter: str
) -> None:
    """KOKU minted to a custodial address is the stored key's: a transaction it signs comes
    from that address (transfers are closed on KOKU, so it signs a plain one)."""
    user = _user(world.db, world.new_supporter().id)
    assert user.wallet_address is not None
    tx_hash = chain.send_raw(
        chain.build_mint_tx(
            MINTER_KEY,
            SEASON,
            user.wallet_address,
            1_500,
            issuance_ref(uuid.uuid4()),
            chain.pending_nonce(minter),
        ).raw
    )
    chain.raise_for_receipt(chain.wait_receipt(tx_hash))
    chain.rpc("anvil_setBalance", [user.wallet_address, hex(10**18)])

    account = chain.account(decrypt_wallet_key(settings, user))
    assert account.address == user.wallet_address
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": chain.chain_id(),
            "nonce": chain.pending_nonce(user.wallet_address),
            "to": user.wallet_address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 1,
        }
    )
    receipt = chain.wait_receipt(chain.send_raw(bytes(signed.raw_transaction)))
    assert receipt["status"] == 1
    assert receipt["from"] == user.wallet_address
    assert chain.balance_of(user.wallet_address) == 1_500


def test_no_response_or_log_line_carries_a_key_or_its_ciphertext(
    world: World, client: httpx.Client, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    bodies: list[str] = []

    def record(response: httpx.Response) -> None:
        response.read()
        bodies.append(str(response.headers) + response.text)

    client.event_hooks["response"].append(record)
    caplog.set_level("DEBUG")
    try:
        person = world.new_supporter("secretive")
        other = Account.create()
        for path in ("/v1/me", "/v1/me/wallet", "/v1/me/balance", "/v1/me/ledger"):
            client.get(path, headers=person.headers)
        challenge = client.post(
            "/v1/me/wallet/challenge", headers=person.headers, json={"address": other.address}
        ).json()
        client.post(  # a wrong signature: an error response
            "/v1/me/wallet",
            headers=person.headers,
            json={"challenge_id": challenge["challenge_id"], "signature": "0x" + "11" * 65},
        )
        client.post("/v1/me/wallet", headers=person.headers, json={"signature": "nope"})
        client.get("/openapi.json")
    finally:
        client.event_hooks["response"].remove(record)

    user = _user(world.db, person.id)
    assert user.wallet_key_ciphertext is not None
    key = decrypt_wallet_key(settings, user)
    secrets = {
        key.hex(),
        key.hex().upper(),
        user.wallet_key_ciphertext.hex(),
        user.wallet_key_ciphertext[12:].hex(),
    }
    secrets |= {
        base64.b64encode(user.wallet_key_ciphertext).decode(),
        base64.urlsafe_b64encode(user.wallet_key_ciphertext).decode().rstrip("="),
    }
    assert len(bodies) >= 9
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert all(secret not in body for body in bodies)
        assert secret not in logged
    assert all("ciphertext" not in body for body in bodies[:-1])
