"""The regional auditor's pages over HTTP: the region's towns, read-only drill-down,
and nothing of another region."""

from __future__ import annotations

from tests.console.helpers import confirmed, invested, signed_in_client
from tests.world import SEASON, World


def test_the_region_at_a_glance(world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    confirmed(world, world.a, invested(world, world.a, world.bob, 3_000))
    invested(world, world.b, world.bob, 5_000)  # awaiting payment: nothing issued yet
    with signed_in_client(str(world.client.base_url), "auditor@aizu.example.jp") as client:
        page = client.get("/console/region", params={"season": SEASON})
        assert page.status_code == 200
        rows = page.text.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
        nishiaizu = next(row for row in rows if "西会津町" in row)
        kitakata = next(row for row in rows if "喜多方市" in row)
        assert "1.500" in nishiaizu  # 1,500 go issued
        assert '<td class="num">2</td>' in nishiaizu  # two supporters
        assert "記録待ち2件" in nishiaizu  # two mints wait for the chain
        assert "すべて記録済み" in kitakata
        drill = client.get(f"/console/region/towns/{world.a.municipality_id}")
        assert drill.status_code == 200
        assert "閲覧のみ" in drill.text
        # the town's on-chain tiles: two mints waiting, none confirmed yet
        assert '記録待ち</span><span class="value">2</span>' in drill.text
        assert '記録済み</span><span class="value">0</span>' in drill.text
        assert "alice" in drill.text
        assert '<form method="post" action="/console/town' not in drill.text


def test_another_regions_town_is_not_found(world: World) -> None:
    with signed_in_client(str(world.client.base_url), "auditor@other.example.jp") as client:
        page = client.get("/console/region")
        assert "西会津町" not in page.text
        refused = client.get(f"/console/region/towns/{world.a.municipality_id}")
        assert refused.status_code == 404
        assert "自治体が見つかりません" in refused.text


def test_an_auditor_changes_nothing(world: World) -> None:
    with signed_in_client(str(world.client.base_url), "auditor@aizu.example.jp") as client:
        assert client.get("/console/town/payments").status_code == 403
        assert client.get("/console/farmer").status_code == 403
