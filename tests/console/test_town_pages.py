"""The town administrator's pages over HTTP: confirming payments, the issuances and
their CSV, farmers and the season's policy, always within the administrator's town."""

from __future__ import annotations

import csv
import io

from tests.console.helpers import confirmed, csrf_of, invested, signed_in_client
from tests.world import SEASON, World


def test_the_dashboard_shows_the_cap_and_the_chain(world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town", params={"season": SEASON})
        assert page.status_code == 200, page.text
        assert "西会津町 2026年シーズン" in page.text
        assert "1.200" in page.text  # issued: 1,200 go
        assert "10,000.000" in page.text  # the cap
        assert 'id="kinds-data"' in page.text
        no_policy = client.get("/console/town", params={"season": SEASON + 1})
        assert "方針はまだ設定されていません" in no_policy.text


def test_a_town_administrator_confirms_a_payment(world: World) -> None:
    mine = invested(world, world.a, world.alice, 12_000)
    theirs = invested(world, world.b, world.bob, 5_000)
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town/payments")
        assert mine in page.text
        assert theirs not in page.text
        token = csrf_of(page.text)
        row = client.post(
            f"/console/town/payments/{mine}/confirm",
            data={"csrf_token": token, "payment_reference": "furikomi-2026-0042"},
            headers={"HX-Request": "true"},
        )
        assert row.status_code == 200
        assert "確定済み" in row.text
        again = client.post(
            f"/console/town/payments/{mine}/confirm",
            data={"csrf_token": token, "payment_reference": "furikomi-2026-0042"},
            headers={"HX-Request": "true"},
        )
        assert "入金待ちではありません" in again.text
        other_town = client.post(
            f"/console/town/payments/{theirs}/confirm",
            data={"csrf_token": token, "payment_reference": "x"},
        )
        assert other_town.status_code == 404
    read = world.client.get(f"/v1/investments/{mine}", headers=world.alice.headers).json()
    assert read["status"] == "confirmed"
    theirs_read = world.client.get(f"/v1/investments/{theirs}", headers=world.bob.headers).json()
    assert theirs_read["status"] == "pending_payment"


def test_the_issuances_csv_is_the_accounting_export(world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    confirmed(world, world.b, invested(world, world.b, world.bob, 5_000))
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        listed = client.get("/console/town/issuances", params={"kind": "investment"})
        assert "alice" in listed.text
        assert "bob" not in listed.text
        exported = client.get("/console/town/issuances.csv", params={"season": SEASON})
    api = world.client.get(
        "/v1/audit/issuances/export.csv",
        params={"municipality_id": str(world.a.municipality_id), "season": SEASON},
        headers={**world.a.admin.headers, "Accept-Language": "ja"},
    )
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="issuances.csv"'
    assert exported.content == api.content
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 2


def test_registering_and_editing_a_farmer(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        token = csrf_of(client.get("/console/town/farmers/new").text)
        form = {
            "csrf_token": token,
            "email": "hanako@nishiaizu.example.jp",
            "password": "short",
            "name": "佐藤花子",
            "farm_name": "花子農園",
            "story": "",
            "varieties": "コシヒカリ、ひとめぼれ",
        }
        refused = client.post("/console/town/farmers/new", data=form)
        assert refused.status_code == 422
        assert "10文字以上で入力してください" in refused.text
        assert 'value="short"' not in refused.text  # a password is never sent back
        assert 'value="花子農園"' in refused.text  # what was typed is shown again
        created = client.post(
            "/console/town/farmers/new", data={**form, "password": "a long enough one"}
        )
        assert created.status_code == 303
        listed = client.get("/console/town/farmers", params={"q": "花子"}).text
        assert "コシヒカリ、ひとめぼれ" in listed
        assert client.get(f"/console/town/farmers/{world.b.farmer_id}").status_code == 404
    farmers = world.client.get(
        "/v1/farmers", params={"municipality_id": str(world.a.municipality_id), "q": "花子"}
    ).json()["items"]
    assert farmers[0]["varieties"] == ["コシヒカリ", "ひとめぼれ"]
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        edit = f"/console/town/farmers/{farmers[0]['id']}"
        token = csrf_of(client.get(edit).text)
        edited = client.post(
            edit,
            data={
                "csrf_token": token,
                "name": "佐藤花子",
                "farm_name": "花子の田んぼ",
                "story": "",
                "varieties": "つや姫, 天のつぶ",
            },
        )
        assert edited.status_code == 303
    profile = world.client.get(f"/v1/farmers/{farmers[0]['id']}").json()
    assert (profile["farm_name"], profile["varieties"]) == ("花子の田んぼ", ["つや姫", "天のつぶ"])
    with signed_in_client(
        str(world.client.base_url), "hanako@nishiaizu.example.jp", password="a long enough one"
    ) as farmer:
        assert farmer.get("/console").headers["location"] == "/console/farmer"


def test_setting_the_seasons_policy(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town/policy", params={"season": SEASON + 1})
        token = csrf_of(page.text)
        saved = client.post(
            "/console/town/policy",
            data={
                "csrf_token": token,
                "season": str(SEASON + 1),
                "price_yen_per_go": "12",
                "volunteer_go_per_hour": "400",
                "yearly_cap_koku": "5,000",
            },
        )
        assert saved.status_code == 303
        assert "方針を保存しました" in client.get(saved.headers["location"]).text
    policy = world.client.get(
        f"/v1/municipalities/{world.a.municipality_id}/policy",
        params={"season": SEASON + 1},
    )
    assert policy.status_code == 200, policy.text
    assert policy.json()["yearly_cap"]["go"] == 5_000_000


def test_a_farmer_is_refused_at_the_town_pages(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        assert client.get("/console/town").status_code == 403
        assert client.get("/console/town/issuances.csv").status_code == 403
