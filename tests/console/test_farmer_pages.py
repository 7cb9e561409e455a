"""The farmer's pages over HTTP: what they show, and that they keep to the farmer's own."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.console.helpers import (
    confirmed,
    csrf_of,
    invested,
    pending_hours,
    signed_in_client,
)
from tests.world import World


def test_season_at_a_glance_adds_up_the_farmers_support(world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    confirmed(world, world.a, invested(world, world.a, world.bob, 3_000))
    confirmed(world, world.b, invested(world, world.b, world.bob, 50_000))  # another town
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        page = client.get("/console/farmer")
        assert page.status_code == 200
        assert "¥15,000" in page.text  # 12,000 + 3,000 yen; not the other town's
        assert "1.500" in page.text  # 1,500 go at 10 yen per go
        assert 'id="weekly-data"' in page.text
        today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
        monday = today - timedelta(days=today.weekday())
        # One week, this one (Japan time), with both kinds: 1,500 go invested, none volunteered.
        assert f'"labels": ["{monday.isoformat()}"]' in page.text
        assert '"data": [1.5]' in page.text


def test_the_ledger_filters_by_kind_and_exports_csv(world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    contribution = pending_hours(world, world.a, world.bob)
    approved = world.client.post(
        f"/v1/contributions/{contribution}/approve", json={}, headers=world.a.farmer.headers
    )
    assert approved.status_code == 200, approved.text
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        volunteering = client.get("/console/farmer/ledger", params={"kind": "contribution"})
        assert "bob" in volunteering.text
        assert "alice" not in volunteering.text
        exported = client.get("/console/farmer/ledger.csv")
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        assert exported.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert rows[0][0] == "日時"
        assert sorted(row[2] for row in rows[1:]) == ["alice", "bob"]


def test_a_farmer_approves_and_rejects_hours(world: World) -> None:
    approve_me = pending_hours(world, world.a, world.alice)
    reject_me = pending_hours(world, world.a, world.bob)
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        page = client.get("/console/farmer/hours")
        token = csrf_of(page.text)
        assert approve_me in page.text
        row = client.post(
            f"/console/farmer/contributions/{approve_me}/approve",
            data={"csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert row.status_code == 200
        assert "承認済み" in row.text
        refused = client.post(
            f"/console/farmer/contributions/{reject_me}/reject",
            data={"csrf_token": token, "reason": ""},
            headers={"HX-Request": "true"},
        )
        assert "却下済み" not in refused.text
        rejected = client.post(
            f"/console/farmer/contributions/{reject_me}/reject",
            data={"csrf_token": token, "reason": "当日は雨で中止でした"},
        )
        assert rejected.status_code == 303
    mine = world.client.get("/v1/me/contributions", headers=world.bob.headers).json()["items"]
    assert mine[0]["status"] == "rejected"
    assert mine[0]["rejection_reason"] == "当日は雨で中止でした"
    alices = world.client.get("/v1/me/contributions", headers=world.alice.headers).json()["items"]
    assert alices[0]["status"] == "approved"


def test_another_towns_hours_and_works_are_not_found(world: World) -> None:
    theirs = pending_hours(world, world.b, world.alice)
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        token = csrf_of(client.get("/console/farmer/hours").text)
        refused = client.post(
            f"/console/farmer/contributions/{theirs}/approve", data={"csrf_token": token}
        )
        assert refused.status_code == 404
        assert client.get(f"/console/farmer/works/{world.b.work_id}").status_code == 404
        assert (
            client.get("/console/farmer/ledger", params={"work": world.b.work_id}).status_code
            == 404
        )
    still = world.client.get("/v1/me/contributions", headers=world.alice.headers).json()["items"]
    assert still[0]["status"] == "pending"


def test_a_farmer_creates_edits_and_closes_a_work(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.farmer.email, "en") as client:
        token = csrf_of(client.get("/console/farmer/works/new").text)
        form = {
            "csrf_token": token,
            "season": "2026",
            "title": "棚田のもち米",
            "variety": "こがねもち",
            "description": "",
            "field_area_m2": "5,000",
            "planned_yield_kg": "abc",
            "offer_yen": "300000",
            "is_open": "on",
        }
        invalid = client.post("/console/farmer/works/new", data=form)
        assert invalid.status_code == 422
        assert "Some fields need attention" in invalid.text
        form["planned_yield_kg"] = "1500"
        created = client.post("/console/farmer/works/new", data=form)
        assert created.status_code == 303
        works = world.client.get(
            "/v1/works", params={"farmer_id": str(world.a.farmer_id), "season": 2026}
        ).json()["items"]
        new = next(w for w in works if w["title"] == "棚田のもち米")
        assert new["planned_yield"]["go"] == 10_000  # 1,500 kg at 150 g per go
        assert new["field_area_m2"] == 5_000
        edited = client.post(
            f"/console/farmer/works/{new['id']}",
            data={**form, "offer_yen": "400000"},
        )
        assert edited.status_code == 303
        closed = client.post(
            f"/console/farmer/works/{new['id']}/open", data={"csrf_token": token, "open": "0"}
        )
        assert closed.status_code == 303
    work = world.client.get(f"/v1/works/{new['id']}").json()
    assert work["offer_yen"] == 400_000
    assert work["is_open"] is False
