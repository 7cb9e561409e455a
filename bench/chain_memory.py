"""The managed anvil's memory and speed as the chain grows: KOKU minted at full speed.

    .venv/bin/python bench/chain_memory.py [--mints 300000] [--report-every 20000]
        [--anvil-arg=--prune-history=1 ...] [--max-rss-gb 4] [--empty-blocks 0]

One anvil with the managed command line (``settlement.runtime.managed_anvil``: no interval
mining, a block mined once a second while transactions wait, as ``ChainRuntime._mine`` does; 64
blocks' states kept; the block gas limit; a state file dumped every
``KOKUDAKA_ANVIL_STATE_INTERVAL`` seconds), plus any ``--anvil-arg`` for comparisons. The KOKU
contract from the committed artifact is deployed to it and ``mintBatch`` is called directly:
signed locally, ``--batch-size`` mints per transaction (250, see below), up to
``--in-flight`` transactions sent before their receipts, as the settlement worker does, but
without SQL, so that the chain is what is measured.

Printed every ``--report-every`` confirmed mints: mints, blocks, the mint rate over the last
interval, anvil's resident memory (VmRSS) and the state file's size. ``--empty-blocks`` mines that
many empty blocks first (``anvil_mine``), as 1 s interval mining makes while a town is idle:
86,400 a day, 31.5 million a year. ``--max-rss-gb`` stops a run whose anvil grows past it (the
machine is shared; without a bound anvil took 18 GB at 1,000,000 mints).

Works with both KOKU ABIs: one minter with an allowance (``configureMinter``) and per-town
minters (``setTownMinter`` + ``setSeasonCap``, ``mintBatch`` with a leading season). Mints are
250 to a transaction: 315 to fresh recipients pass the 16,000,000 gas a transaction may use.
``--interval-mining``, ``--state-history N``, ``--anvil-default-history`` and ``--no-state``
compare configurations.

Measured (anvil 1.7.1, 2 cores shared with other test runs, load average 7-10, so rates are
low and noisy; the worker's Python is not in the loop):

- anvil's default history keeps a full copy of the state for each of the last 1,500 blocks in
  memory (3,600 more in a temporary directory), one a block, mints or not. At 100,000 mints an
  idle chain grew 8-9 MB a block (332 -> 716 MB in 40 s); at 1,000,000 mints that is ~90 MB a
  second up to 1,500 copies: the 18 GB seen. ``--prune-history`` alone kept RSS flat when idle
  (350 MB at 100,000 mints) but keeps one state: an ``eth_call`` one block back fails
  ("BlockOutOfRangeError"), and reconciliation reads balances pinned to the block it started at.
  ``--prune-history=N`` is what the managed anvil needs (64, ``ANVIL_STATE_HISTORY``: the
  minute a reconciliation of 1,000,000 issuances may take), but anvil 1.7.1 ignores N under
  interval mining of 2 s or less (``--block-time 0.1 --prune-history=3`` still answered 20
  blocks back; without interval mining, not 5 back). With 1 s interval mining, 200,000 mints in
  ~100 s: 1.4 GB (N=64), 1.1 GB (N=8), 1.5 GB (default), and ~2.2 GB a minute later, idle,
  still growing in all three (N=64 at 50,000 mints: 222 MB -> 827 MB over 150 idle seconds,
  ~4 MB a block). Mining on demand with N=64 (the managed setting): 892 MB at 200,000 mints,
  ~1.0 GB and flat after 30 idle seconds (no block made). 20,000 fresh mints: 4,856/s on
  demand, 3,049/s with interval mining, in the same minute (the bench's Python bounds both).
  1,000,000 mints on demand (one run, load average 4-7): 3,475/s overall, 3,300-4,000/s over
  the last 200,000; RSS 295 MB at 100,000, 2.1 GB at 500,000, 5.9 GB at 1,000,000 (92 blocks),
  6.4 GB idle 25 s later with no block made; state file 2.0 GB. What is left grows with the
  mints, not with time: 64 copies of the state (~70 MB each at 1,000,000 mints) and the history;
  and the 5 s state dump rewrites the whole file (73-81% of a core while idle at 1,000,000).
- Slower at depth, with any history setting: every block costs anvil time in proportion to the
  state (idle, no mints, no state file: 16% of a core at 100,000 mints; 30-48% at 200,000, when
  anvil made only 6-9 of its 1 s blocks in 10 s). Minting fell from 4,500-7,900/s at 50,000 to
  900-2,800/s at 200,000 in every configuration (run to run noise is large here). The state dump
  adds to it: the file holds every transaction with its call trace (59%) and receipt (41%),
  ~2 KB a mint (211 MB at 100,000), rewritten in place every 5 s (``anvil_dumpState`` took 9 s
  at 100,000 mints); without a state file idle CPU was 16% instead of 20-22%.
- Time alone grew it: an empty block costs ~1.7 KB of RSS and ~1.3 KB of state file (40,000
  blocks: +67 MB, 53 MB), and 1 s interval mining made 31.5 million a year (~50 GB); mined on
  demand, an idle chain makes none. With the
  default hardfork the first 8,191 blocks also slow each block down (the EIP-2935/4788 history
  contracts fill their ring buffers): 2,258 blocks in the first 10 s, 260 in the 12th.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.processes import free_port
from kokudaka.core.settings import Settings
from kokudaka.settlement.runtime import ANVIL_BLOCK_TIME, managed_anvil

SEASON = 2026
#: Per-transaction gas cap of EIP-7825 (anvil enforces it by default): the gas every batch asks.
TX_GAS = 16_000_000
GWEI = 10**9


class BenchNode(AnvilNode):
    """The managed node, with extra flags appended for comparisons."""

    extra: tuple[str, ...] = ()

    def command(self) -> list[str]:
        return [*super().command(), *self.extra]


@dataclass(frozen=True, slots=True)
class Sample:
    mints: int
    blocks: int
    rate: float
    anvil_cpu: float
    """Share of one core anvil used over the interval."""
    rss_bytes: int | None
    state_bytes: int | None


def cpu_seconds(pid: int | None) -> float:
    """User plus system CPU time a process used so far (Linux), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | None) -> int | None:
    """VmRSS of a process (Linux), None if unknown."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Rpc:
    """Plain JSON-RPC over one kept-alive HTTP session, with batches."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self._ids = itertools.count(1)

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body: Any = [
            {"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls
        ]
        answers = self.session.post(self.url, json=body, timeout=120).json()
        by_id = {a["id"]: a for a in answers}
        out = []
        for request in body:
            answer = by_id[request["id"]]
            if "error" in answer:
                raise RuntimeError(f"{request['method']}: {answer['error']}")
            out.append(answer["result"])
        return out


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def mint_batch_calldata(
    season: int | None, to: list[bytes], amounts: list[int], refs: list[bytes]
) -> bytes:
    """``mintBatch`` calldata, encoded by hand: eth_abi takes ~6 ms a batch, this ~0.3 ms."""
    n = len(to)
    head_words = 3 if season is None else 4
    array_bytes = 32 * (n + 1)
    offsets = [32 * head_words + i * array_bytes for i in range(3)]
    parts = [selector_of_mint(season)]
    if season is not None:
        parts.append(word(season))
    parts += [word(o) for o in offsets]
    parts.append(word(n))
    parts += [b"\0" * 12 + a for a in to]
    parts.append(word(n))
    parts += [word(a) for a in amounts]
    parts.append(word(n))
    parts += refs
    return b"".join(parts)


def selector_of_mint(season: int | None) -> bytes:
    if season is None:
        return selector("mintBatch(address[],uint256[],bytes32[])")
    return selector("mintBatch(uint16,address[],uint256[],bytes32[])")


class Minter:
    """Deploys KOKU on the node and mints through it, pipelined."""

    def __init__(self, rpc: Rpc, chain_id: int) -> None:
        self.rpc = rpc
        self.chain_id = chain_id
        self.admin = Account.from_key(ANVIL_DEV_KEYS[0])
        self.minter = Account.from_key(ANVIL_DEV_KEYS[1])
        self.nonces = {self.admin.address: 0, self.minter.address: 0}
        self.token = ""
        self.season: int | None = None
        self.gas_price = 10 * GWEI

    def _send(self, account: Any, to: str | None, data: bytes, gas: int = TX_GAS) -> str:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": self.nonces[account.address],
            "gas": gas,
            "maxFeePerGas": 100 * GWEI,
            "maxPriorityFeePerGas": 1 * GWEI,
            "data": data,
            "value": 0,
            "type": 2,
        }
        if to is not None:
            tx["to"] = to
        self.nonces[account.address] += 1
        signed = account.sign_transaction(tx)
        return str(self.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))

    def _wait(self, tx_hash: str) -> dict[str, Any]:
        while True:
            receipt = self.rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                if receipt["status"] != "0x1":
                    raise RuntimeError(f"{tx_hash} reverted")
                return dict(receipt)
            time.sleep(0.05)

    def deploy(self) -> None:
        artifact = load_koku_artifact()
        functions = {e.get("name") for e in artifact.abi if e.get("type") == "function"}
        bytecode = bytes.fromhex(artifact.bytecode.removeprefix("0x"))
        # constructor(uint48 adminDelay, address admin)
        args = word(0) + word(int(self.admin.address, 16))
        receipt = self._wait(self._send(self.admin, None, bytecode + args, gas=15_000_000))
        self.token = to_checksum_address(receipt["contractAddress"])
        minter = word(int(self.minter.address, 16))
        if "configureMinter" in functions:
            call = selector("configureMinter(address,uint256)") + minter + word(2**100)
            self._wait(self._send(self.admin, self.token, call, gas=500_000))
        else:  # KOKU v3: per-town minters with a cap per season
            self.season = SEASON
            town = uuid.uuid4().int.to_bytes(32, "big")
            call = selector("setTownMinter(bytes32,address)") + town + minter
            self._wait(self._send(self.admin, self.token, call, gas=500_000))
            call = selector("setSeasonCap(bytes32,uint16,uint256)") + town + word(SEASON)
            self._wait(self._send(self.admin, self.token, call + word(2**100), gas=500_000))

    def mint_tx(self, recipients: list[bytes], start: int, size: int) -> bytes:
        to = [recipients[(start + i) % len(recipients)] for i in range(size)]
        refs = [keccak(b"bench-mint-" + (start + i).to_bytes(8, "big")) for i in range(size)]
        data = mint_batch_calldata(self.season, to, [1000 + i for i in range(size)], refs)
        tx = {
            "chainId": self.chain_id,
            "nonce": self.nonces[self.minter.address],
            "gas": TX_GAS,
            # Full blocks raise the base fee block after block: follow it, as the worker does.
            "maxFeePerGas": 2 * self.gas_price + GWEI,
            "maxPriorityFeePerGas": 1 * GWEI,
            "to": self.token,
            "data": data,
            "value": 0,
            "type": 2,
        }
        self.nonces[self.minter.address] += 1
        return bytes(self.minter.sign_transaction(tx).raw_transaction)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="kokudaka-chain-memory-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            anvil_port=free_port(),
            anvil_block_time=args.block_time,
            chain_enabled=True,
        )
        base = managed_anvil(settings)
        node = BenchNode(
            base.data_dir,
            port=base.port,
            chain_id=base.chain_id,
            state_file=None if args.no_state else base.state_file,
            state_interval=base.state_interval,
            block_time=settings.anvil_block_time or ANVIL_BLOCK_TIME,
            gas_limit=base.gas_limit,
            state_history=None
            if args.anvil_default_history
            else args.state_history or base.state_history,
            mine_on_demand=base.mine_on_demand and not args.interval_mining,
        )
        node.extra = tuple(args.anvil_arg)
        print("anvil:", " ".join(node.command()[1:]), flush=True)
        with node:
            rpc = Rpc(node.rpc_url)
            stop = threading.Event()
            if node.mine_on_demand:  # what ChainRuntime._mine does for the service
                block_time = settings.anvil_block_time or ANVIL_BLOCK_TIME
                threading.Thread(
                    target=mine_on_demand, args=(node.rpc_url, block_time, stop), daemon=True
                ).start()
            if args.empty_blocks:
                t0 = time.monotonic()
                step = args.empty_step
                for done in range(0, args.empty_blocks, step):
                    rpc.call("anvil_mine", hex(min(step, args.empty_blocks - done)))
                    print(
                        f"empty blocks {done + step:>10,}  rss {mb(rss_bytes(node.pid))}  "
                        f"state {mb(size(node.state_file))}  {time.monotonic() - t0:.0f}s",
                        flush=True,
                    )
            minter = Minter(rpc, settings.chain_id)
            minter.deploy()
            recipients = [os.urandom(20) for _ in range(args.recipients)]
            status = mint_loop(args, node, rpc, minter, recipients)
            stop.set()
        if args.keep is not None and node.state_file is not None:
            shutil.copyfile(node.state_file, args.keep)
        return status


def mine_on_demand(url: str, block_time: float, stop: threading.Event) -> None:
    rpc = Rpc(url)
    while not stop.wait(block_time):
        if int(rpc.call("txpool_status")["pending"], 16) > 0:
            rpc.call("evm_mine")


def size(path: Path | None) -> int | None:
    try:
        return None if path is None else path.stat().st_size
    except OSError:
        return None


def mb(value: int | None) -> str:
    return "    n/a" if value is None else f"{value / 2**20:7.0f} MB"


def mint_loop(
    args: argparse.Namespace, node: AnvilNode, rpc: Rpc, minter: Minter, recipients: list[bytes]
) -> int:
    in_flight: collections.deque[tuple[str, int]] = collections.deque()
    sent = confirmed = 0
    start = last_at = time.monotonic()
    last_cpu = cpu_seconds(node.pid)
    last_mints = 0
    next_report = args.report_every
    samples: list[Sample] = []
    print(HEADER)
    while confirmed < args.mints:
        # Fill the pipeline: signed batches sent several per HTTP request.
        burst: list[tuple[str, list[Any]]] = []
        sizes: list[int] = []
        while len(in_flight) + len(burst) < args.in_flight and sent < args.mints:
            n = min(args.batch_size, args.mints - sent)
            raw = minter.mint_tx(recipients, sent, n)
            burst.append(("eth_sendRawTransaction", ["0x" + raw.hex()]))
            sizes.append(n)
            sent += n
            if len(burst) >= 8:
                break
        if len(in_flight) < args.in_flight and sent < args.mints:
            minter.gas_price = int(rpc.call("eth_gasPrice"), 16)
        if burst:
            for tx_hash, n in zip(rpc.batch(burst), sizes, strict=True):
                in_flight.append((tx_hash, n))
        # Collect receipts of the oldest transactions in flight.
        head = list(itertools.islice(in_flight, 16))
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h, _ in head]) if head else []
        progressed = False
        for (tx_hash, n), receipt in zip(head, receipts, strict=True):
            if receipt is None:
                break
            if receipt["status"] != "0x1":
                raise RuntimeError(
                    f"mint batch {tx_hash} reverted, gas used {int(receipt['gasUsed'], 16):,}"
                )
            in_flight.popleft()
            confirmed += n
            progressed = True
        if not progressed and not burst:
            time.sleep(0.02)
        if confirmed >= next_report or confirmed >= args.mints:
            now, cpu = time.monotonic(), cpu_seconds(node.pid)
            sample = Sample(
                mints=confirmed,
                blocks=int(rpc.call("eth_blockNumber"), 16),
                rate=(confirmed - last_mints) / (now - last_at),
                anvil_cpu=(cpu - last_cpu) / (now - last_at),
                rss_bytes=rss_bytes(node.pid),
                state_bytes=size(node.state_file),
            )
            samples.append(sample)
            print(sample_line(sample), flush=True)
            last_at, last_mints, last_cpu = now, confirmed, cpu
            next_report += args.report_every
            if (sample.rss_bytes or 0) > args.max_rss_gb * 2**30:
                print(f"stopped: anvil past {args.max_rss_gb} GB", flush=True)
                return 1
    elapsed = time.monotonic() - start
    print(f"done: {confirmed:,} mints in {elapsed:.1f}s = {confirmed / elapsed:,.0f}/s overall")
    if args.idle_seconds:
        # What the chain costs while nobody mints: interval mining still makes a block a second.
        idle_start = time.monotonic()
        while (elapsed := time.monotonic() - idle_start) < args.idle_seconds:
            t0, c0 = time.monotonic(), cpu_seconds(node.pid)
            b0 = int(rpc.call("eth_blockNumber"), 16)
            time.sleep(min(10.0, args.idle_seconds - elapsed))
            wall = time.monotonic() - t0
            blocks = int(rpc.call("eth_blockNumber"), 16)
            print(
                f"idle {time.monotonic() - idle_start:4.0f}s: block {blocks} (+{blocks - b0}), "
                f"anvil CPU {(cpu_seconds(node.pid) - c0) / wall:.0%} of a core, "
                f"rss {mb(rss_bytes(node.pid))}, state file {mb(size(node.state_file))}",
                flush=True,
            )
    if args.time_dump:
        t0 = time.monotonic()
        dumped = rpc.call("anvil_dumpState")
        print(
            f"anvil_dumpState: {time.monotonic() - t0:.1f}s, {len(dumped) // 2 / 2**20:.0f} MB gzip"
        )
    return 0


HEADER = (
    f"{'mints':>10} {'block':>7} {'mints/s':>8} {'anvil cpu':>9} {'anvil rss':>10} "
    f"{'state file':>10}"
)


def sample_line(sample: Sample) -> str:
    return (
        f"{sample.mints:>10,} {sample.blocks:>7} {sample.rate:>8,.0f} {sample.anvil_cpu:>9.0%} "
        f"{mb(sample.rss_bytes):>10} {mb(sample.state_bytes):>10}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mints", type=int, default=300_000)
    parser.add_argument("--report-every", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument("--block-time", type=float, default=None)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--time-dump", action="store_true")
    parser.add_argument("--empty-blocks", type=int, default=0)
    parser.add_argument("--empty-step", type=int, default=10_000)
    parser.add_argument("--no-state", action="store_true", help="no state file (comparison)")
    parser.add_argument(
        "--interval-mining",
        action="store_true",
        help="anvil's --block-time instead of mining on demand (comparison)",
    )
    parser.add_argument(
        "--state-history", type=int, default=None, help="blocks' states kept (comparison)"
    )
    parser.add_argument(
        "--anvil-default-history",
        action="store_true",
        help="anvil's own state history instead of the managed one (comparison)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="copy the state file here at the end"
    )
    parser.add_argument("--max-rss-gb", type=float, default=4.0)
    parser.add_argument(
        "--anvil-arg", action="append", default=[], help="extra anvil flag (repeatable)"
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
