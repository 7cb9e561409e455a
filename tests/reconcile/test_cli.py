"""``kokudaka audit reconcile`` as a process: exit 0 clean, 1 on discrepancies, 2 unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kokudaka.chain.node import AnvilNode
from kokudaka.chain.processes import free_port
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment
from tests.reconcile.helpers import Settler
from tests.world import World


def audit(
    settings: Settings, rpc_url: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KOKUDAKA_ENV": "test",
        "KOKUDAKA_DATABASE_URL": settings.sqlalchemy_url,
        "KOKUDAKA_CHAIN_RPC_URL": rpc_url,
        "KOKUDAKA_DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "kokudaka.cli", "audit", "reconcile", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_exit_codes_follow_the_outcome(
    world: World,
    settler: Settler,
    settings: Settings,
    anvil: AnvilNode,
    deployment: ChainDeployment,
    tmp_path: Path,
) -> None:
    in_a, in_b = world.new_supporter("a"), world.new_supporter("b")
    settler.issue(world.a.municipality_id, in_a, 1_000)
    settler.issue(world.b.municipality_id, in_b, 2_000)
    settler.settle()

    clean = audit(settings, anvil.rpc_url, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "clean" in clean.stdout
    assert "2 operations" in clean.stdout

    settler.mint_outside_the_ledger(world.b.municipality_id, settler.wallet(in_b), 1)
    dirty = audit(settings, anvil.rpc_url, tmp_path)
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert "unknown_mint" in dirty.stdout
    assert "4 discrepancies" in dirty.stdout

    # The discrepancy is the other town's: this one's audit is clean.
    town_a = audit(settings, anvil.rpc_url, tmp_path, "--municipality", "nishiaizu")
    assert town_a.returncode == 0, town_a.stdout + town_a.stderr
    assert "1 operations" in town_a.stdout


def test_an_unreachable_chain_exits_2(settings: Settings, tmp_path: Path) -> None:
    result = audit(settings, f"http://127.0.0.1:{free_port()}", tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "chain unreachable" in result.stdout
