"""The town administrator's console page starts the reconciliation job and follows it."""

from __future__ import annotations

import time

import httpx

from tests.console.helpers import csrf_of, signed_in_client
from tests.reconcile.helpers import Settler
from tests.world import World


def test_the_console_starts_the_job_and_shows_its_report(
    world: World, runtime_client: httpx.Client, settler: Settler
) -> None:
    hanako = world.new_supporter("hanako")
    settler.issue(world.a.municipality_id, hanako, 1_500)
    settler.settle()
    with signed_in_client(str(runtime_client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town/reconciliation")
        started = client.post(
            "/console/town/reconciliation",
            data={"csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert started.status_code == 303, started.text
        location = started.headers["location"]
        assert "job=" in location
        deadline = time.monotonic() + 60
        while True:
            followed = client.get(location)
            assert followed.status_code == 200, followed.text
            if 'http-equiv="refresh"' not in followed.text:
                break  # done: the page stops reloading itself
            assert "照合を実行中です" in followed.text
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.5)
        assert "台帳とチェーンは一致しています" in followed.text
        # The town's caps, in the ledger and on the chain, with the cap signed on chain.
        assert 'id="reconciliation-seasons"' in followed.text
        assert "管理者の署名待ち" not in followed.text
        # Kept for the dashboard, and the plain page shows it too.
        again = client.get("/console/town/reconciliation")
        assert "台帳とチェーンは一致しています" in again.text
