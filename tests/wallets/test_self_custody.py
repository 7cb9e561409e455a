"""Self custody: proving control of an address with a signed one-time challenge."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.models import User, WalletChallenge, utcnow
from tests.world import Person, World

PROBLEM_FIELDS = {"type", "title", "status", "code", "detail", "instance"}


def _challenge(client: httpx.Client, person: Person, address: str) -> dict[str, str]:
    response = client.post(
        "/v1/me/wallet/challenge", headers=person.headers, json={"address": address}
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def _sign(account: LocalAccount, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex().removeprefix(
        "0x"
    )


def _verify(
    client: httpx.Client, person: Person, challenge_id: str, signature: str
) -> httpx.Response:
    return client.post(
        "/v1/me/wallet",
        headers=person.headers,
        json={"challenge_id": challenge_id, "signature": signature},
    )


def _state(db: sessionmaker[Session], person: Person) -> tuple[str | None, bytes | None, int]:
    with db() as session:
        user = session.get(User, person.id)
        assert user is not None
        used = session.scalars(
            select(WalletChallenge.id).where(
                WalletChallenge.user_id == person.id, WalletChallenge.used_at.is_not(None)
            )
        ).all()
        return user.wallet_address, user.wallet_key_ciphertext, len(used)


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["code"] == code


def test_proving_an_address_makes_it_the_wallet_and_keeps_the_custodial_key(
    world: World, client: httpx.Client
) -> None:
    person = world.new_supporter()
    custodial, ciphertext, _ = _state(world.db, person)
    mine = Account.create()

    challenge = _challenge(client, person, mine.address.lower())
    message = challenge["message"]
    assert challenge["address"] == mine.address  # checksummed
    for part in ("Kokudaka", str(person.id), mine.address, "Nonce: ", "Expires at: "):
        assert part in message
    expires_at = challenge["expires_at"]
    assert utcnow() + timedelta(minutes=9) < _parse(expires_at) <= utcnow() + timedelta(minutes=10)

    response = _verify(client, person, challenge["challenge_id"], _sign(mine, message))
    assert response.status_code == 200, response.text
    assert response.json() == {"address": mine.address, "custody": "self"}
    assert client.get("/v1/me/wallet", headers=person.headers).json() == {
        "address": mine.address,
        "custody": "self",
    }
    address, kept, used = _state(world.db, person)
    assert address == mine.address != custodial
    assert kept == ciphertext  # KOKU minted before the switch stays reachable
    assert used == 1


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_signature_from_another_key_is_refused_and_nothing_is_written(
    world: World, client: httpx.Client
) -> None:
    person = world.new_supporter()
    before = _state(world.db, person)
    claimed, signer = Account.create(), Account.create()
    challenge = _challenge(client, person, claimed.address)

    response = _verify(
        client, person, challenge["challenge_id"], _sign(signer, challenge["message"])
    )
    _assert_problem(response, 400, "wallet_signature_invalid")
    # A signature over another message by the right key is no better.
    response = _verify(client, person, challenge["challenge_id"], _sign(claimed, "hello"))
    _assert_problem(response, 400, "wallet_signature_invalid")
    response = _verify(client, person, challenge["challenge_id"], "0x" + "ff" * 65)
    _assert_problem(response, 400, "wallet_signature_invalid")
    assert _state(world.db, person) == before

    # The challenge was not spent by the failures.
    good = _verify(client, person, challenge["challenge_id"], _sign(claimed, challenge["message"]))
    assert good.status_code == 200, good.text


def test_a_challenge_is_single_use(world: World, client: httpx.Client) -> None:
    person = world.new_supporter()
    mine = Account.create()
    challenge = _challenge(client, person, mine.address)
    signature = _sign(mine, challenge["message"])
    assert _verify(client, person, challenge["challenge_id"], signature).status_code == 200
    before = _state(world.db, person)
    _assert_problem(
        _verify(client, person, challenge["challenge_id"], signature),
        400,
        "wallet_challenge_invalid",
    )
    assert _state(world.db, person) == before


def test_an_expired_challenge_is_refused(world: World, client: httpx.Client) -> None:
    person = world.new_supporter()
    before = _state(world.db, person)
    mine = Account.create()
    challenge = _challenge(client, person, mine.address)
    with world.db.begin() as session:
        session.execute(
            update(WalletChallenge)
            .where(WalletChallenge.id == uuid.UUID(challenge["challenge_id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = _verify(client, person, challenge["challenge_id"], _sign(mine, challenge["message"]))
    _assert_problem(response, 400, "wallet_challenge_invalid")
    assert _state(world.db, person) == before


def test_another_users_challenge_is_refused(world: World, client: httpx.Client) -> None:
    owner, thief = world.new_supporter("owner"), world.new_supporter("thief")
    before = _state(world.db, thief)
    mine = Account.create()
    challenge = _challenge(client, owner, mine.address)
    signature = _sign(mine, challenge["message"])
    _assert_problem(
        _verify(client, thief, challenge["challenge_id"], signature),
        400,
        "wallet_challenge_invalid",
    )
    _assert_problem(
        _verify(client, thief, str(uuid.uuid4()), signature), 400, "wallet_challenge_invalid"
    )
    assert _state(world.db, thief) == before
    # Still usable by its owner.
    assert _verify(client, owner, challenge["challenge_id"], signature).status_code == 200


def test_an_address_that_is_another_users_wallet_is_a_conflict(
    world: World, client: httpx.Client
) -> None:
    first, second = world.new_supporter("first"), world.new_supporter("second")
    taken = client.get("/v1/me/wallet", headers=first.headers).json()["address"]
    _assert_problem(
        client.post("/v1/me/wallet/challenge", headers=second.headers, json={"address": taken}),
        409,
        "wallet_address_taken",
    )

    # Taken between the challenge and its answer.
    shared = Account.create()
    one = _challenge(client, first, shared.address)
    two = _challenge(client, second, shared.address)
    assert (
        _verify(client, first, one["challenge_id"], _sign(shared, one["message"])).status_code
        == 200
    )
    before = _state(world.db, second)
    _assert_problem(
        _verify(client, second, two["challenge_id"], _sign(shared, two["message"])),
        409,
        "wallet_address_taken",
    )
    assert _state(world.db, second) == before


def test_malformed_input_and_staff_are_refused(world: World, client: httpx.Client) -> None:
    person = world.new_supporter()
    address = Account.create().address
    wrong_checksum = address[:2] + (
        address[2:].swapcase() if address[2:] != address[2:].swapcase() else address[2:]
    )
    for body in (
        {"address": "0x1234"},
        {"address": wrong_checksum},
        {"address": address, "role": "platform_admin"},
    ):
        _assert_problem(
            client.post("/v1/me/wallet/challenge", headers=person.headers, json=body),
            422,
            "validation_error",
        )
    _assert_problem(_verify(client, person, str(uuid.uuid4()), "0x1234"), 422, "validation_error")
    _assert_problem(
        client.post(
            "/v1/me/wallet/challenge", headers=world.a.admin.headers, json={"address": address}
        ),
        403,
        "forbidden",
    )
    _assert_problem(
        client.post("/v1/me/wallet/challenge", json={"address": address}), 401, "not_authenticated"
    )
