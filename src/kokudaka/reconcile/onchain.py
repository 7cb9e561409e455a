"""Reading the chain for a reconciliation: every ``Minted``/``Burned`` event by reference (with
the town whose namespace it is in), the towns' caps and minted amounts per season, and balances,
all pinned to one block and decoded by hand (lower-case hex, no checksum hashing): what makes a
million events affordable."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from eth_utils.address import to_checksum_address
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import ChainError, map_chain_error
from kokudaka.chain.interface import (
    BALANCE_OF_SELECTOR,
    BURNED_TOPIC,
    MINTED_TOPIC,
    SEASON_CAP_SELECTOR,
    SEASON_MINTED_SELECTOR,
)
from kokudaka.models import (
    ChainDeployment,
)
from kokudaka.reconcile.report import Event, Ticker, chunks

#: ``eth_call``s per JSON-RPC batch request.
BALANCE_BATCH: Final = 1_000
#: Blocks per ``eth_getLogs`` request (halved by the client when a node refuses the range).
LOG_CHUNK_BLOCKS: Final = 2_000
_LOG_PIECES: Final = 8
_LOGS_AHEAD: Final = 2

# ---------------------------------------------------------------- chain: events and state


def address_topic(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _logs(
    client: ChainClient, topic: str, from_block: int, to_block: int
) -> Iterator[dict[str, Any]]:
    """Raw logs of ``topic``, block range by block range, the next range always in flight.

    The client's chunked ``eth_getLogs`` (it halves a range a node refuses) is used as is;
    decoding happens here, by hand and without EIP-55 checksums, which is what makes a
    million events affordable (``minted_events`` checksums two addresses per event, ~80 µs
    each). While one range is decoded, the node already serializes the next: a dense dev
    chain's history is cut in at least ``_LOG_PIECES`` ranges so that this overlap exists.
    """
    span = to_block - from_block + 1
    if span <= 0:
        return
    size = min(LOG_CHUNK_BLOCKS, -(-span // _LOG_PIECES))
    ranges = [
        (start, min(start + size - 1, to_block)) for start in range(from_block, to_block + 1, size)
    ]

    def fetch(bounds: tuple[int, int]) -> list[dict[str, Any]]:
        return list(client._logs(topic, bounds[0], bounds[1], size))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-logs") as pool:
        pending = deque(pool.submit(fetch, bounds) for bounds in ranges[:_LOGS_AHEAD])
        following = iter(ranges[_LOGS_AHEAD:])
        while pending:
            logs = pending.popleft().result()
            bounds = next(following, None)
            if bounds is not None:
                pending.append(pool.submit(fetch, bounds))
            yield from logs


def _fetch_events(
    client: ChainClient,
    topic: str,
    from_block: int,
    block: int,
    *,
    tick: Ticker,
    phase: str,
) -> tuple[dict[str, Event], list[tuple[str, Event]], int]:
    """Events by reference (lower-case ``0x`` hex, as SQL stores it), duplicates, count.

    References are kept per town on chain, but SQL's are unique across towns, so one
    reference in two towns' namespaces is a duplicate here (the town is in the event)."""
    events: dict[str, Event] = {}
    duplicates: list[tuple[str, Event]] = []
    count = 0
    for log in _logs(client, topic, from_block, block):
        topics = log["topics"]
        event = ("0x" + topics[2][-40:], int(log["data"], 16), log["transactionHash"], topics[3])
        reference = topics[1]
        if reference in events:
            duplicates.append((reference, event))
        else:
            events[reference] = event
        count += 1
        if not count & 0x3FF:
            tick(phase, count)
    tick.always(phase, count)
    return events, duplicates, count


class Chain:
    """What the chain holds at one block, read while the ledger is being read."""

    minted: dict[str, Event]
    minted_duplicates: list[tuple[str, Event]]
    minted_count: int
    burned: dict[str, Event]
    burned_duplicates: list[tuple[str, Event]]
    burned_count: int


def read_chain(client: ChainClient, deployment: ChainDeployment, block: int, tick: Ticker) -> Chain:
    chain = Chain()
    start = deployment.deployed_block
    chain.minted, chain.minted_duplicates, chain.minted_count = _fetch_events(
        client, MINTED_TOPIC, start, block, tick=tick, phase="minted events"
    )
    chain.burned, chain.burned_duplicates, chain.burned_count = _fetch_events(
        client, BURNED_TOPIC, start, block, tick=tick, phase="burned events"
    )
    return chain


def town_topic(town_text: str) -> str:
    """A town's ``bytes32`` as an event topic, from its id as the database gives it as text
    (dashed on PostgreSQL, 32 hex digits on SQLite): the UUID left-padded to 32 bytes."""
    return "0x" + "0" * 32 + town_text.replace("-", "").lower()


def town_seasons_at(
    client: ChainClient, token: str, pairs: Sequence[tuple[str, int]], block: int
) -> list[tuple[int, int]]:
    """``(seasonCap, seasonMinted)`` of each ``(town topic, season)`` at ``block``."""
    calldata: list[str] = []
    for topic, season in pairs:
        arguments = topic[2:] + f"{season:064x}"
        calldata += [SEASON_CAP_SELECTOR + arguments, SEASON_MINTED_SELECTOR + arguments]
    values = eth_calls(client, to_checksum_address(token), calldata, hex(block))
    return list(zip(values[0::2], values[1::2], strict=True))


def balances_at(
    client: ChainClient, token: str, addresses: Iterable[str], block: int, tick: Ticker
) -> dict[str, int]:
    """``balanceOf`` each address at ``block``, in JSON-RPC batches."""
    ordered = sorted(addresses)
    calldata = [BALANCE_OF_SELECTOR + address_topic(address)[2:] for address in ordered]
    values = eth_calls(client, to_checksum_address(token), calldata, hex(block), tick)
    return dict(zip(ordered, values, strict=True))


def eth_calls(
    client: ChainClient,
    token: str,
    calldata: Sequence[str],
    block_tag: str,
    tick: Ticker | None = None,
) -> list[int]:
    """``eth_call``s returning one uint256 each, sent as JSON-RPC batches at ``block_tag``."""
    return [
        int(result, 16) for result in eth_call_results(client, token, calldata, block_tag, tick)
    ]


def eth_call_results(
    client: ChainClient,
    to: str,
    calldata: Sequence[str],
    block_tag: str,
    tick: Ticker | None = None,
    batch_size: int = BALANCE_BATCH,
) -> list[str]:
    """``eth_call``s to ``to``, sent as JSON-RPC batches at ``block_tag``: each one's
    returned data as ``0x`` hex."""
    provider = client.web3.provider
    if not isinstance(provider, JSONBaseProvider):
        raise ChainError(f"{type(provider).__name__} cannot send JSON-RPC batches")
    values: list[str] = []
    for chunk in chunks(calldata, batch_size):
        batch = [(RPCEndpoint("eth_call"), [{"to": to, "data": data}, block_tag]) for data in chunk]
        try:
            responses = provider.make_batch_request(batch)
        except Exception as exc:
            raise map_chain_error(exc, context="eth_call batch") from exc
        if not isinstance(responses, list) or len(responses) != len(batch):
            raise ChainError(f"eth_call batch refused: {responses!r:.300}")
        for response in responses:
            result = response.get("result")
            if "error" in response or not isinstance(result, str) or len(result) < 3:
                raise ChainError(f"eth_call failed: {response.get('error', result)!r:.300}")
            values.append(result)
        if tick is not None:
            tick("balances", len(values))
    return values
