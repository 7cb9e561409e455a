"""The harvest's console pages over HTTP: the farmer files a yield, another administrator
of the town countersigns or rejects it; the season's policy carries the harvest rules."""

from __future__ import annotations

import uuid

from kokudaka.auth.service import create_user
from kokudaka.models import Role
from tests.console.helpers import csrf_of, signed_in_client
from tests.harvest.helpers import approved_hours, harvest_day, invest_and_confirm
from tests.world import PASSWORD, SEASON, World


def _settled_row(page: str, work_id: uuid.UUID) -> str:
    return page.split(f'data-work="{work_id}"')[1].split("</tr>")[0]


def _file(world: World, kg: str) -> None:
    path = f"/console/farmer/works/{world.a.work_id}/harvest"
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "収量の報告なし" in page.text
        refused = client.post(
            path,
            data={
                "csrf_token": csrf_of(page.text),
                "actual_yield_kg": "1.2345",
                "harvested_on": harvest_day(),
                "photo_urls": "",
                "slip_number": "",
                "note": "",
            },
        )
        assert refused.status_code == 422
        filed = client.post(
            path,
            data={
                "csrf_token": csrf_of(page.text),
                "actual_yield_kg": kg,
                "harvested_on": harvest_day(),
                "photo_urls": "https://photos.example.jp/1.jpg https://photos.example.jp/2.jpg",
                "slip_number": "JA-0042",
                "note": "猪の被害が少しあり",
            },
        )
        assert filed.status_code == 303, filed.text
        after = client.get(filed.headers["location"])
        assert "自治体の確認待ち" in after.text
        assert f"{kg}.000 kg" in after.text


def test_a_farmer_files_and_the_town_countersigns(world: World) -> None:
    invest_and_confirm(world, world.alice, 5_000)  # 500 go
    approved_hours(world, world.bob, "2", world.a.work_id)  # 1,000 go
    _file(world, "432000")
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        queue = client.get("/console/town/harvest")
        assert queue.status_code == 200
        assert "432000.000 kg" in queue.text
        assert "80.00%" in queue.text
        assert "JA-0042" in queue.text
        report_id = world.client.get(
            f"/v1/works/{world.a.work_id}/yield-reports", headers=world.a.admin.headers
        ).json()["items"][0]["id"]
        signed = client.post(
            f"/console/town/yield-reports/{report_id}/countersign",
            data={"csrf_token": csrf_of(queue.text)},
        )
        assert signed.status_code == 303, signed.text
        after = client.get(signed.headers["location"]).text
        assert "収量報告を確認しました" in after
        # The season's harvested works, each with what it settled.
        row = _settled_row(after, world.a.work_id)
        assert "nishiaizu コシヒカリ" in row
        assert "1,500 合" in row  # boards converted
        assert row.count("1,200 合") == 2  # bills issued, and rice owed
        assert row.count("180.000 kg") == 2
        other_season = client.get(f"/console/town/harvest?season={SEASON - 1}").text
        assert str(world.a.work_id) not in other_season
        assert "米手形を発行した作品はありません" in other_season
        english = client.get("/console/town/harvest", headers={"Accept-Language": "en"}).text
        assert "Rice owed (bills outstanding)" in english
    harvest = world.client.get(f"/v1/works/{world.a.work_id}/harvest").json()
    assert harvest["state"] == "bills_issued"
    assert harvest["ratio_bp"] == 8_000
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        page = client.get(f"/console/farmer/works/{world.a.work_id}/harvest")
        assert "米手形を発行済み" in page.text
        assert "80.00%" in page.text
        settlement = page.text.split('id="settlement"')[1].split("</dl>")[0]
        assert "収穫の精算" in page.text
        assert "1,200 合 (180.000 kg)" in settlement
        assert "1,500 合 (1.500 KOKU)" in settlement
    # Another town's administrator does not see this town's settled works.
    with signed_in_client(str(world.client.base_url), world.b.admin.email) as client:
        other_town = client.get("/console/town/harvest").text
        assert str(world.a.work_id) not in other_town
        assert "米手形を発行した作品はありません" in other_town


def test_the_filer_cannot_countersign_and_a_rejection_needs_a_reason(world: World) -> None:
    _file(world, "500")
    report_id = world.client.get(
        f"/v1/works/{world.a.work_id}/yield-reports", headers=world.a.admin.headers
    ).json()["items"][0]["id"]
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        queue = client.get("/console/town/harvest")
        token = csrf_of(queue.text)
        blank = client.post(
            f"/console/town/yield-reports/{report_id}/reject",
            data={"csrf_token": token, "reason": "  "},
        )
        assert blank.status_code == 409
        rejected = client.post(
            f"/console/town/yield-reports/{report_id}/reject",
            data={"csrf_token": token, "reason": "伝票と一致しません"},
        )
        assert rejected.status_code == 303
    # A report the administrator filed is shown, but not theirs to countersign.
    with world.db.begin() as session:
        create_user(
            session,
            world.settings,
            email=f"admin2-{uuid.uuid4().hex[:6]}@nishiaizu.example.jp",
            password=PASSWORD,
            display_name="第二管理者",
            role=Role.town_admin,
            municipality_id=world.a.municipality_id,
        )
    filed = world.client.post(
        f"/v1/works/{world.a.work_id}/yield-reports",
        json={"actual_yield_kg": "600", "harvested_on": harvest_day()},
        headers=world.a.admin.headers,
    )
    assert filed.status_code == 201, filed.text
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        queue = client.get("/console/town/harvest")
        assert "ご自身の報告です" in queue.text
        own = client.post(
            f"/console/town/yield-reports/{filed.json()['id']}/countersign",
            data={"csrf_token": csrf_of(queue.text)},
        )
        assert own.status_code == 409
        assert "報告した人以外" in own.text


def test_the_harvest_pages_are_their_owners(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.b.farmer.email) as client:
        assert client.get(f"/console/farmer/works/{world.a.work_id}/harvest").status_code == 404
        assert client.get("/console/town/harvest").status_code == 403
    with signed_in_client(str(world.client.base_url), world.b.admin.email) as client:
        assert "確認待ちの収量報告はありません" in client.get("/console/town/harvest").text


def test_the_policy_form_sets_the_harvest_rules(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town/policy", params={"season": SEASON})
        assert 'value="120"' in page.text
        saved = client.post(
            "/console/town/policy",
            data={
                "csrf_token": csrf_of(page.text),
                "season": str(SEASON),
                "price_yen_per_go": "10",
                "volunteer_go_per_hour": "500",
                "yearly_cap_koku": "10,000",
                "harvest_ceiling_percent": "110",
                "boards_close_on": f"{SEASON}-08-31",
                "bills_expire_on": f"{SEASON + 1}-10-31",
            },
        )
        assert saved.status_code == 303, saved.text
        shown = client.get(saved.headers["location"]).text
        assert 'value="110"' in shown
        assert f'value="{SEASON}-08-31"' in shown
    policy = world.client.get(
        f"/v1/municipalities/{world.a.municipality_id}/policy", params={"season": SEASON}
    ).json()
    assert policy["harvest_ceiling_bp"] == 11_000
    assert policy["boards_close_on"] == f"{SEASON}-08-31"
    assert policy["bills_expire_on"] == f"{SEASON + 1}-10-31"
