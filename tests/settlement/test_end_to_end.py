"""The whole path in one test: sign up, invest, confirm payment, approve volunteer hours,
settle, and read the supporter's KOKU straight from the chain, equal to the API's."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.client import ChainClient
from kokudaka.chain.node import AnvilNode
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment, ChainState
from tests.settlement.helpers import new_settlement, settle_all, states
from tests.volunteering.helpers import post_activity
from tests.world import World


def test_sign_up_invest_volunteer_settle_and_read_the_balance_from_the_chain(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    client = world.client
    supporter = world.new_supporter("hanako")
    me = client.get("/v1/me", headers=supporter.headers).json()
    assert Web3.is_checksum_address(me["wallet_address"])

    investment = client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 12_345},
        headers={**supporter.headers, "Idempotency-Key": uuid.uuid4().hex},
    ).json()
    confirmed = client.post(
        f"/v1/investments/{investment['id']}/confirm",
        json={"payment_reference": "furikomi-e2e"},
        headers=world.a.admin.headers,
    )
    assert confirmed.status_code == 200, confirmed.text

    activity = post_activity(client, world.a.farmer)
    logged = client.post(
        f"/v1/activities/{activity['id']}/contributions",
        json={"hours": "2.5"},
        headers=supporter.headers,
    )
    assert logged.status_code == 201, logged.text
    approved = client.post(
        f"/v1/contributions/{logged.json()['id']}/approve",
        json={},
        headers=world.a.farmer.headers,
    )
    assert approved.status_code == 200, approved.text

    settle_all(new_settlement(db, node.rpc_url, chain_settings, deployment), db)
    assert states(db) == {ChainState.confirmed: 2}

    api_balance = client.get("/v1/me/balance", headers=supporter.headers).json()["balance"]
    expected_go = 12_345 // 10 + activity["go_per_hour"] * 150 // 60
    assert api_balance["go"] == expected_go

    # Straight from the chain with web3.py, not through the service's client.
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    token = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.token_address),
        abi=load_koku_artifact().abi,
    )
    on_chain = token.functions.balanceOf(me["wallet_address"]).call()
    assert on_chain == api_balance["go"]
    assert token.functions.decimals().call() == 3

    ledger = client.get("/v1/me/ledger", headers=supporter.headers).json()["items"]
    assert {line["chain"]["state"] for line in ledger} == {"confirmed"}
    assert all(line["chain"]["tx_hash"] for line in ledger)
