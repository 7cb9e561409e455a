"""The rice bills contract (KokuBills, ERC-1155, one token id per work) through BillsClient, on a
real anvil: works registered within a town's allowance, batch mints exactly once per town's ref,
burns bounded per issuance, events, reads through a plain ERC-1155 ABI, and the computed gas
limits against the worst cases they must cover."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from kokudaka.chain import bills_interface
from kokudaka.chain.artifact import load_bills_artifact
from kokudaka.chain.bills import (
    BILL_BURN_GAS_LIMIT,
    BILL_MAX_BATCH_SIZE,
    BILL_MAX_BURN_BATCH_SIZE,
    REGISTER_WORK_GAS_LIMIT,
    BillsClient,
    BillWork,
    bill_burn_batch_gas_limit,
    bill_mint_batch_gas_limit,
    bill_token_id,
    work_runs,
)
from kokudaka.chain.client import TX_GAS_CAP, PrivateKey
from kokudaka.chain.interface import error_specs, event_topic, selector
from tests.chain.conftest import (
    ADMIN_KEY,
    BILLS_CAP,
    BILLS_URI,
    MINTER_KEY,
    OTHER_BILLS_CAP,
    OTHER_MINTER_KEY,
    OTHER_TOWN,
    SEASON,
    TOWN,
    new_ref,
)
from tests.chain.test_koku import mined, send_expecting_revert

BILLS_SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "KokuBills.sol"

#: The plain ERC-1155 ABI a wallet or an explorer reads with: nothing of Kokudaka's.
ERC1155_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}, {"name": "id", "type": "uint256"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "balanceOfBatch",
        "stateMutability": "view",
        "inputs": [
            {"name": "accounts", "type": "address[]"},
            {"name": "ids", "type": "uint256[]"},
        ],
        "outputs": [{"name": "", "type": "uint256[]"}],
    },
    {
        "type": "function",
        "name": "uri",
        "stateMutability": "view",
        "inputs": [{"name": "id", "type": "uint256"}],
        "outputs": [{"name": "", "type": "string"}],
    },
    {
        "type": "function",
        "name": "supportsInterface",
        "stateMutability": "view",
        "inputs": [{"name": "interfaceId", "type": "bytes4"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "event",
        "name": "TransferSingle",
        "anonymous": False,
        "inputs": [
            {"indexed": True, "name": "operator", "type": "address"},
            {"indexed": True, "name": "from", "type": "address"},
            {"indexed": True, "name": "to", "type": "address"},
            {"indexed": False, "name": "id", "type": "uint256"},
            {"indexed": False, "name": "value", "type": "uint256"},
        ],
    },
]
ZERO_ADDRESS = "0x" + "00" * 20


def fresh_address() -> ChecksumAddress:
    """A holder that never held a bill: its balance slot is written from zero."""
    return to_checksum_address(os.urandom(20))


def new_work() -> int:
    """A fresh work's token id, as the service makes them."""
    return bill_token_id(uuid.uuid4())


def nonce_of(bills: BillsClient, key: PrivateKey) -> int:
    return bills.connection.pending_nonce(bills.connection.account(key).address)


def register(
    bills: BillsClient, work: int, cap: int, key: PrivateKey = MINTER_KEY, season: int = SEASON
) -> int:
    """Register ``work`` for ``key``'s town; returns the gas used."""
    signed = bills.build_register_work_tx(key, work, season, cap, nonce_of(bills, key))
    return mined(bills.connection, signed)


def mint(
    bills: BillsClient,
    items: list[tuple[int, str, int, bytes]],
    key: PrivateKey = MINTER_KEY,
    gas: int | None = None,
) -> int:
    """Mint ``(work, holder, amount, ref)`` items in one batch; returns the gas used."""
    works, holders, amounts, refs = (list(column) for column in zip(*items, strict=True))
    signed = bills.build_mint_batch_tx(
        key, works, holders, amounts, refs, nonce_of(bills, key), gas=gas
    )
    return mined(bills.connection, signed)


def burn(
    bills: BillsClient,
    holder: str,
    work: int,
    amount: int,
    issuance: bytes,
    key: PrivateKey = MINTER_KEY,
    ref: bytes | None = None,
) -> int:
    signed = bills.build_burn_tx(
        key, holder, work, amount, ref or new_ref(), issuance, nonce_of(bills, key)
    )
    return mined(bills.connection, signed)


def plain(bills: BillsClient) -> Contract:
    """The bills contract as a plain ERC-1155 reader sees it."""
    return bills.connection.web3.eth.contract(address=bills.address, abi=ERC1155_ABI)


def test_deployed_as_configured(bills: BillsClient, minter: str, other_minter: str) -> None:
    assert bills.runs_this_version(bills.address)
    assert bills.admin() == bills.connection.account(ADMIN_KEY).address
    assert bills.minter_of(TOWN) == minter
    assert bills.town_of(other_minter) == OTHER_TOWN
    assert bills.season_cap(TOWN, SEASON) == BILLS_CAP
    assert bills.allowance_left(OTHER_TOWN, SEASON) == OTHER_BILLS_CAP
    token = plain(bills).functions
    assert token.supportsInterface(bytes.fromhex("d9b67a26")).call()  # ERC-1155
    assert token.supportsInterface(bytes.fromhex("0e89341c")).call()  # its metadata URI
    assert token.uri(new_work()).call() == BILLS_URI
    contract = bills.connection.web3.eth.contract(
        address=bills.address, abi=load_bills_artifact().abi
    )
    assert contract.functions.decimals().call() == 3
    assert contract.functions.name().call() == "Kokudaka rice bills"


def test_register_reserves_the_towns_allowance(bills: BillsClient) -> None:
    work = new_work()
    assert bills.work(work) == BillWork(town=None, season=0, cap=0, minted=0)
    register(bills, work, 30_000)
    assert bills.work(work) == BillWork(town=TOWN, season=SEASON, cap=30_000, minted=0)
    assert bills.season_reserved(TOWN, SEASON) == 30_000
    assert bills.allowance_left(TOWN, SEASON) == BILLS_CAP - 30_000
    register(bills, work, 30_000)  # a resend changes nothing
    register(bills, work, 12_000)  # a lower cap gives the rest back
    assert bills.season_reserved(TOWN, SEASON) == 12_000
    register(bills, work, 40_000)
    assert bills.allowance_left(TOWN, SEASON) == BILLS_CAP - 40_000
    events = [e for e in bills.work_registered_events() if e.work_id == work]
    assert [(e.town, e.season, e.cap) for e in events] == [
        (TOWN, SEASON, 30_000),
        (TOWN, SEASON, 12_000),
        (TOWN, SEASON, 40_000),
    ]


def test_mint_batch_reads_through_a_plain_erc1155_abi(bills: BillsClient, minter: str) -> None:
    work, other_work = new_work(), new_work()
    register(bills, work, 10_000)
    register(bills, other_work, 10_000)
    alice, bob = fresh_address(), fresh_address()
    refs = [new_ref() for _ in range(3)]
    items = [(work, alice, 1_500, refs[0]), (work, bob, 2_500, refs[1])]
    mint(bills, [*items, (other_work, alice, 700, refs[2])])
    token = plain(bills).functions
    assert token.balanceOf(alice, work).call() == 1_500
    assert token.balanceOfBatch(
        [alice, bob, alice, bob], [work, work, other_work, other_work]
    ).call() == [1_500, 2_500, 700, 0]
    assert bills.balance_of(bob, work) == 2_500
    assert bills.total_supply(work) == 4_000
    assert bills.work(work).minted == 4_000
    assert bills.work(other_work) == BillWork(TOWN, SEASON, 10_000, 700)
    assert all(bills.is_minted(TOWN, ref) for ref in refs)
    assert not bills.is_minted(OTHER_TOWN, refs[0])

    transfers = plain(bills).events.TransferSingle().get_logs(from_block=0)
    assert [(t.args["from"], t.args["to"], t.args["id"], t.args["value"]) for t in transfers] == [
        (ZERO_ADDRESS, alice, work, 1_500),
        (ZERO_ADDRESS, bob, work, 2_500),
        (ZERO_ADDRESS, alice, other_work, 700),
    ]
    assert {t.args["operator"] for t in transfers} == {minter}
    minted = list(bills.minted_events())
    assert [(e.ref, e.to, e.work_id, e.amount, e.town) for e in minted] == [
        (refs[0], alice, work, 1_500, TOWN),
        (refs[1], bob, work, 2_500, TOWN),
        (refs[2], alice, other_work, 700, TOWN),
    ]


def test_a_resent_batch_mints_nothing_twice(bills: BillsClient) -> None:
    work = new_work()
    register(bills, work, 10_000)
    alice, bob = fresh_address(), fresh_address()
    first = [(work, alice, 1_000, new_ref()), (work, bob, 2_000, new_ref())]
    mint(bills, first)
    fresh = (work, bob, 3_000, new_ref())
    mint(bills, [*first, fresh, fresh])  # the resend, one new item, and that item again
    assert bills.balance_of(alice, work) == 1_000
    assert bills.balance_of(bob, work) == 5_000
    assert bills.work(work).minted == bills.total_supply(work) == 6_000
    skipped = list(bills.minted_events(skipped=True))
    assert [(e.ref, e.amount) for e in skipped] == [
        (first[0][3], 1_000),
        (first[1][3], 2_000),
        (fresh[3], 3_000),
    ]


def test_refs_are_once_per_town(bills: BillsClient) -> None:
    work, other_work = new_work(), new_work()
    register(bills, work, 5_000)
    register(bills, other_work, 5_000, key=OTHER_MINTER_KEY)
    holder, ref = fresh_address(), new_ref()
    mint(bills, [(work, holder, 1_000, ref)])
    mint(bills, [(other_work, holder, 1_000, ref)], key=OTHER_MINTER_KEY)
    assert bills.balance_of(holder, work) == bills.balance_of(holder, other_work) == 1_000


def test_unsorted_works_are_checked_per_run(bills: BillsClient) -> None:
    a, b = new_work(), new_work()
    register(bills, a, 3_000)
    register(bills, b, 3_000)
    holder = fresh_address()
    items = [(work, holder, 1_000, new_ref()) for work in (a, b, a, b)]
    assert work_runs([item[0] for item in items]) == 4
    mint(bills, items)
    assert bills.work(a).minted == bills.work(b).minted == 2_000
    overflow = [
        (a, holder, 500, new_ref()),
        (b, holder, 500, new_ref()),
        (a, holder, 600, new_ref()),
    ]
    works, holders, amounts, refs = (list(c) for c in zip(*overflow, strict=True))
    signed = bills.build_mint_batch_tx(
        MINTER_KEY, works, holders, amounts, refs, nonce_of(bills, MINTER_KEY)
    )
    error = send_expecting_revert(bills.connection, signed)
    assert error.error_name == bills_interface.WORK_CAP_EXCEEDED
    assert error.error_args == (a, 600, 500)
    assert bills.total_supply(a) == 2_000


def test_a_mint_past_the_works_cap_mints_nothing(bills: BillsClient) -> None:
    work = new_work()
    register(bills, work, 2_000)
    holder = fresh_address()
    signed = bills.build_mint_batch_tx(
        MINTER_KEY,
        [work, work],
        [holder, holder],
        [1_500, 600],
        [new_ref(), new_ref()],
        nonce_of(bills, MINTER_KEY),
    )
    error = send_expecting_revert(bills.connection, signed)
    assert error.error_name == "WorkCapExceeded"
    assert bills.balance_of(holder, work) == 0
    register(bills, work, 2_100)  # the conversion's corrected total
    mint(bills, [(work, holder, 1_500, new_ref()), (work, holder, 600, new_ref())])
    assert bills.total_supply(work) == 2_100


def test_a_registration_past_the_allowance_is_refused(bills: BillsClient) -> None:
    register(bills, new_work(), BILLS_CAP - 1_000)
    signed = bills.build_register_work_tx(
        MINTER_KEY, new_work(), SEASON, 1_001, nonce_of(bills, MINTER_KEY)
    )
    error = send_expecting_revert(bills.connection, signed)
    assert error.error_name == "AllowanceExceeded"
    assert error.error_args == (TOWN, SEASON, 1_001, 1_000)
    bills.set_season_cap(ADMIN_KEY, TOWN, SEASON, BILLS_CAP + 1)
    register(bills, new_work(), 1_001)
    assert bills.allowance_left(TOWN, SEASON) == 0


def test_burns_draw_on_their_issuance(bills: BillsClient) -> None:
    work = new_work()
    register(bills, work, 10_000)
    holder, issuance = fresh_address(), new_ref()
    mint(bills, [(work, holder, 5_000, issuance)])
    shipped = new_ref()
    burn(bills, holder, work, 2_000, issuance, ref=shipped)
    assert bills.balance_of(holder, work) == 3_000
    assert bills.burnable_of(TOWN, issuance, holder, work) == 3_000
    assert bills.is_burned(TOWN, shipped)
    signed = bills.build_burn_tx(
        MINTER_KEY, holder, work, 1, shipped, issuance, nonce_of(bills, MINTER_KEY)
    )
    assert send_expecting_revert(bills.connection, signed).error_name == "AlreadyBurned"
    signed = bills.build_burn_tx(
        MINTER_KEY, holder, work, 3_001, new_ref(), issuance, nonce_of(bills, MINTER_KEY)
    )
    error = send_expecting_revert(bills.connection, signed)
    assert error.error_name == "BurnExceedsIssued"
    assert error.error_args == (issuance, holder, work, 3_001, 3_000)
    burn(bills, holder, work, 3_000, issuance)  # expiry takes the rest
    assert bills.total_supply(work) == 0
    assert bills.work(work).minted == 5_000  # a burn does not give the cap back
    burned = list(bills.burned_events())
    assert [(e.ref, e.from_, e.work_id, e.amount, e.issuance_ref) for e in burned[:1]] == [
        (
            shipped,
            holder,
            work,
            2_000,
            issuance,
        )
    ]
    transfers = plain(bills).events.TransferSingle().get_logs(from_block=0)
    assert [(t.args["to"], t.args["value"]) for t in transfers[1:]] == [
        (ZERO_ADDRESS, 2_000),
        (ZERO_ADDRESS, 3_000),
    ]


def test_burn_batch_skips_used_refs(bills: BillsClient) -> None:
    work = new_work()
    register(bills, work, 10_000)
    alice, bob = fresh_address(), fresh_address()
    issued = [(work, alice, 4_000, new_ref()), (work, bob, 4_000, new_ref())]
    mint(bills, issued)
    refs = [new_ref(), new_ref()]
    holders, works, amounts = [alice, bob], [work, work], [1_000, 4_000]
    issuances = [issued[0][3], issued[1][3]]
    for _ in range(2):  # the second is a resend: both items skipped
        signed = bills.build_burn_batch_tx(
            MINTER_KEY, holders, works, amounts, refs, issuances, nonce_of(bills, MINTER_KEY)
        )
        mined(bills.connection, signed)
    assert bills.balance_of(alice, work) == 3_000
    assert bills.balance_of(bob, work) == 0
    assert [e.ref for e in bills.burned_events(skipped=True)] == refs


def test_the_interface_module_matches_the_abi() -> None:
    abi: list[dict[str, Any]] = [dict(e) for e in load_bills_artifact().abi]

    def signatures(kind: str) -> set[str]:
        return {
            f"{e['name']}({','.join(p['type'] for p in e.get('inputs', []))})"
            for e in abi
            if e.get("type") == kind
        }

    topics = {event_topic(s) for s in signatures("event")}
    selectors = {selector(s) for s in signatures("function")}
    errors = {s.split("(")[0] for s in signatures("error")}
    for name in dir(bills_interface):
        value = getattr(bills_interface, name)
        if name.endswith("_TOPIC"):
            assert value in topics, name
        if name.endswith("_SELECTOR"):
            assert value in selectors, name
    source = BILLS_SOURCE.read_text()
    declared = set(re.findall(r"^\s*event\s+(\w+)\s*\(", source, re.MULTILINE))
    by_name = {s.split("(")[0]: s for s in signatures("event")}
    named = {getattr(bills_interface, n) for n in dir(bills_interface) if n.endswith("_TOPIC")}
    assert {event_topic(by_name[event]) for event in declared} <= named
    assert {bills_interface.NOT_TOWN_WORK, bills_interface.WORK_CAP_EXCEEDED} <= errors
    assert errors >= bills_interface.BILL_PERMANENT_REVERTS
    decodable = {spec for spec in error_specs().values()}
    for entry in abi:
        if entry.get("type") == "error":
            types = tuple(p["type"] for p in entry["inputs"])
            assert (entry["name"], types) in decodable, entry["name"]


# ---------------------------------------------------------------- gas limits


def test_the_largest_batch_fits_its_limit_in_the_worst_case(bills: BillsClient) -> None:
    """Every item a different work's first mint (a run each), to a fresh holder, the largest
    amount: the computed limit covers it and stays under the per-transaction cap."""
    size = BILL_MAX_BATCH_SIZE
    limit = bill_mint_batch_gas_limit(size, size)
    assert limit <= TX_GAS_CAP
    with pytest.raises(ValueError, match="cap"):
        bills.build_mint_batch_tx(
            MINTER_KEY,
            [new_work() for _ in range(size + 1)],
            [fresh_address() for _ in range(size + 1)],
            [1] * (size + 1),
            [new_ref() for _ in range(size + 1)],
            0,
        )
    largest = 2**96 - 1
    bills.set_season_cap(ADMIN_KEY, TOWN, SEASON, largest * size)
    works = [new_work() for _ in range(size)]
    for work in works:
        assert register(bills, work, largest) <= REGISTER_WORK_GAS_LIMIT
    used = mint(bills, [(w, fresh_address(), largest, new_ref()) for w in works])
    assert used < limit
    assert bills.total_supply(works[-1]) == largest


def test_burn_limits_cover_a_full_batch(bills: BillsClient) -> None:
    assert bill_burn_batch_gas_limit(BILL_MAX_BURN_BATCH_SIZE) <= TX_GAS_CAP
    assert bill_burn_batch_gas_limit(BILL_MAX_BURN_BATCH_SIZE + 1) > TX_GAS_CAP
    work = new_work()
    register(bills, work, 10**7)
    size = 100
    items = [(work, fresh_address(), 10**5, new_ref()) for _ in range(size)]
    mint(bills, items)
    holder, issuance = items[0][1], items[0][3]
    assert burn(bills, holder, work, 10**5, issuance) < BILL_BURN_GAS_LIMIT
    rest = items[1:]
    signed = bills.build_burn_batch_tx(
        MINTER_KEY,
        [i[1] for i in rest],
        [work] * len(rest),
        [i[2] for i in rest],
        [new_ref() for _ in rest],
        [i[3] for i in rest],
        nonce_of(bills, MINTER_KEY),
    )
    assert mined(bills.connection, signed) < bill_burn_batch_gas_limit(len(rest))
    assert bills.total_supply(work) == 0
