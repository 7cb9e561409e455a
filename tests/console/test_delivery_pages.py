"""Rice for bills in the console over HTTP: the farmer's (and the town's) shipping list
with its ship and refuse forms, and the delivery ledger with its CSV. Who sees what is
the API's rule: a farmer their own works' redemptions, a town administrator their town's,
and no one else an address."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from kokudaka.auth.service import create_user
from kokudaka.console.pages import deliveries
from kokudaka.models import Farmer, Role
from tests.console.helpers import csrf_of, signed_in_client
from tests.redemptions.helpers import ADDRESS, bills_for, redeem, redeemed
from tests.world import PASSWORD, SEASON, World

SHIPMENT = {"shipped_kg": "30.5", "carrier": "ヤマト運輸", "tracking_number": "1234-5678-9012"}


@pytest.fixture
def requested(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alice asks for 200 合 (30 kg) delivered, Bob for 100 合 picked up at the farm, both
    from their bills on town A's work."""
    bills = bills_for(world, (world.alice, 10_000), (world.bob, 5_000))
    alices = redeemed(world, world.alice, bills[world.alice.id], 200)
    bobs = redeem(world.client, world.bob, bills[world.bob.id], 100, pickup=True)
    assert bobs.status_code == 201, bobs.text
    return alices, bobs.json()


def _row(page: str, redemption_id: str) -> str:
    return page.split(f'data-redemption="{redemption_id}"')[1].split("</tr>")[0]


def _line(page: str, work_id: uuid.UUID, marker: str) -> str:
    table = page.split(f'data-work="{work_id}"')[1].split("</table>")[0]
    return table.split(marker)[1].split("</tr>")[0]


def _state(world: World, redemption_id: str) -> str:
    response = world.client.get(f"/v1/redemptions/{redemption_id}", headers=world.a.farmer.headers)
    state: str = response.json()["state"]
    return state


def test_the_farmer_ships_and_refuses_and_the_ledger_shows_it(
    world: World, requested: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    alices, bobs = requested
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        listed = client.get("/console/farmer/shipping")
        assert listed.status_code == 200, listed.text
        page = listed.text
        assert page.index(alices["id"]) < page.index(bobs["id"])  # oldest first
        alice_row = _row(page, alices["id"])
        assert "200 合" in alice_row
        assert "30.000 kg" in alice_row
        assert ADDRESS["street"] in alice_row
        assert ADDRESS["phone"] in alice_row
        assert "配送" in alice_row
        assert "農園で受け取り" in _row(page, bobs["id"])
        token = csrf_of(page)

        bad_weight = client.post(
            f"/console/farmer/redemptions/{alices['id']}/ship",
            data={**SHIPMENT, "shipped_kg": "0", "csrf_token": token},
        )
        assert bad_weight.status_code == 422
        assert "発送した重量(kg)" in bad_weight.text
        shipped = client.post(
            f"/console/farmer/redemptions/{alices['id']}/ship",
            data={**SHIPMENT, "csrf_token": token},
        )
        assert shipped.status_code == 303, shipped.text
        assert "発送済みにしました" in client.get(shipped.headers["location"]).text
        # Shipped twice: the API's 409, in the page's words.
        again = client.post(
            f"/console/farmer/redemptions/{alices['id']}/ship",
            data={**SHIPMENT, "csrf_token": token},
        )
        assert again.status_code == 409
        assert "発送・取消・お断りはできません" in again.text

        blank = client.post(
            f"/console/farmer/redemptions/{bobs['id']}/refuse",
            data={"reason": "  ", "csrf_token": token},
        )
        assert blank.status_code == 422
        assert _state(world, bobs["id"]) == "requested"
        refused = client.post(
            f"/console/farmer/redemptions/{bobs['id']}/refuse",
            data={"reason": "今年の在庫がなくなりました", "csrf_token": token},
        )
        assert refused.status_code == 303, refused.text

        # Left to ship: nothing; every state: both, as they now stand.
        assert "表示する引き換えはありません" in client.get("/console/farmer/shipping").text
        every = client.get("/console/farmer/shipping", params={"state": "all"}).text
        assert "ヤマト運輸 1234-5678-9012" in _row(every, alices["id"])
        assert "30.500 kg" in _row(every, alices["id"])
        assert "今年の在庫がなくなりました" in _row(every, bobs["id"])

        ledger = client.get("/console/farmer/deliveries", params={"season": SEASON}).text
        alice_line = _line(ledger, world.a.work_id, f'data-supporter="{world.alice.id}"')
        shipped_cell = alice_line.split('data-column="shipped"')[1].split("</td>")[0]
        assert "200 合" in shipped_cell
        assert "30.000 kg" in shipped_cell
        assert "30.500 kg" in alice_line  # the weight entered
        bob_line = _line(ledger, world.a.work_id, f'data-supporter="{world.bob.id}"')
        assert "100 合" in bob_line.split('data-column="refused"')[1].split("</td>")[0]
        total = _line(ledger, world.a.work_id, "data-total")
        outstanding = total.split('data-column="outstanding"')[1].split("</td>")[0]
        assert "1,300 合" in outstanding  # 1,500 issued, 200 shipped
        assert "195.000 kg" in outstanding

        csv = client.get("/console/farmer/deliveries.csv", params={"season": SEASON})
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        text = csv.content.decode("utf-8")
        assert text.startswith("\ufeff作品,年度,農家,支援者")
        assert ADDRESS["street"] not in text
        english = client.get(
            "/console/farmer/deliveries.csv",
            params={"season": SEASON},
            headers={"Accept-Language": "en"},
        )
        assert english.content.decode("utf-8").startswith("\ufeffWork,Season,Farmer")
        shown_en = client.get("/console/farmer/deliveries", headers={"Accept-Language": "en"})
        assert "Delivery ledger" in shown_en.text
        assert "Weight shipped" in shown_en.text
    assert _state(world, alices["id"]) == "shipped"
    assert _state(world, bobs["id"]) == "refused"


def test_htmx_gets_the_row_back_with_the_error_in_it(
    world: World, requested: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    alices, _ = requested
    htmx = {"HX-Request": "true"}
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        token = csrf_of(client.get("/console/farmer/shipping").text)
        url = f"/console/farmer/redemptions/{alices['id']}/ship"
        row = client.post(url, data={**SHIPMENT, "csrf_token": token}, headers=htmx)
        assert row.status_code == 200
        assert f'<tr id="redemption-{alices["id"]}"' in row.text
        assert 'data-state="shipped"' in row.text
        assert "<html" not in row.text
        again = client.post(url, data={**SHIPMENT, "csrf_token": token}, headers=htmx)
        assert 'role="alert"' in again.text
        assert "発送・取消・お断りはできません" in again.text


def test_a_form_without_its_csrf_token_changes_nothing(
    world: World, requested: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    alices, bobs = requested
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        shipped = client.post(f"/console/farmer/redemptions/{alices['id']}/ship", data=SHIPMENT)
        assert shipped.status_code == 403
        refused = client.post(
            f"/console/farmer/redemptions/{bobs['id']}/refuse",
            data={"reason": "no", "csrf_token": "not-the-token"},
        )
        assert refused.status_code == 403
    assert _state(world, alices["id"]) == "requested"
    assert _state(world, bobs["id"]) == "requested"


def _other_farmer_of_town_a(world: World) -> str:
    """A second farmer of town A, with no work: none of the town's redemptions are theirs."""
    email = f"farmer2-{uuid.uuid4().hex[:6]}@nishiaizu.example.jp"
    with world.db.begin() as session:
        user = create_user(
            session,
            world.settings,
            email=email,
            password=PASSWORD,
            display_name="第二農家",
            role=Role.farmer,
            municipality_id=world.a.municipality_id,
        )
        session.add(
            Farmer(
                user_id=user.id,
                municipality_id=world.a.municipality_id,
                name="第二の農家",
                farm_name="second farm",
                story="",
                varieties=["コシヒカリ"],
            )
        )
    return email


def _sees_nothing(client: httpx.Client, world: World, shipping: str, ids: list[str]) -> None:
    page = client.get(shipping, params={"state": "all"})
    assert page.status_code == 200, page.text
    for redemption_id in ids:
        assert redemption_id not in page.text
    assert ADDRESS["street"] not in page.text
    ledger = client.get(shipping.replace("shipping", "deliveries"), params={"season": SEASON})
    assert ledger.status_code == 200, ledger.text
    assert str(world.a.work_id) not in ledger.text
    assert world.alice.email.split("@")[0] not in ledger.text
    csv = client.get(shipping.replace("shipping", "deliveries.csv"), params={"season": SEASON})
    assert csv.status_code == 200, csv.text
    assert csv.content.decode("utf-8").count("\r\n") == 1  # the header alone


def test_no_one_sees_or_ships_another_farmers_or_towns_redemptions(
    world: World, requested: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    alices, bobs = requested
    ids = [alices["id"], bobs["id"]]
    base = str(world.client.base_url)
    outsiders = [
        (world.b.farmer.email, "/console/farmer"),
        (_other_farmer_of_town_a(world), "/console/farmer"),
        (world.b.admin.email, "/console/town"),
    ]
    for email, side in outsiders:
        with signed_in_client(base, email) as client:
            page = client.get(f"{side}/shipping")
            _sees_nothing(client, world, f"{side}/shipping", ids)
            token = csrf_of(page.text)
            for action, data in (("ship", SHIPMENT), ("refuse", {"reason": "no"})):
                answer = client.post(
                    f"{side}/redemptions/{alices['id']}/{action}",
                    data={**data, "csrf_token": token},
                )
                assert answer.status_code == 404, (email, action)
                assert ADDRESS["street"] not in answer.text
            # Filtering on town A's work is filtering on a work that is not theirs.
            other = client.get(f"{side}/shipping", params={"work": str(world.a.work_id)})
            assert other.status_code == 404
    # Each role has its own pages.
    with signed_in_client(base, world.a.farmer.email) as client:
        assert client.get("/console/town/shipping").status_code == 403
        assert client.get("/console/town/deliveries").status_code == 403
    with signed_in_client(base, world.a.admin.email) as client:
        assert client.get("/console/farmer/shipping").status_code == 403
        assert client.get("/console/farmer/deliveries.csv").status_code == 403
    assert _state(world, alices["id"]) == "requested"


def test_the_town_sees_its_farmers_redemptions_and_ships_as_the_api_allows(
    world: World, requested: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    alices, bobs = requested
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town/shipping")
        assert page.status_code == 200, page.text
        alice_row = _row(page.text, alices["id"])
        assert ADDRESS["recipient_name"] in alice_row
        assert "西会津町の農家" in alice_row
        nav = page.text.split('class="main-nav"')[1].split("</nav>")[0]
        assert "発送" in nav
        assert "受け渡し台帳" in nav
        shipped = client.post(
            f"/console/town/redemptions/{alices['id']}/ship",
            data={**SHIPMENT, "csrf_token": csrf_of(page.text)},
        )
        assert shipped.status_code == 303
        assert shipped.headers["location"] == "/console/town/shipping?done=shipped"
        ledger = client.get("/console/town/deliveries", params={"season": SEASON}).text
        assert "西会津町の農家" in ledger
        alice_line = _line(ledger, world.a.work_id, f'data-supporter="{world.alice.id}"')
        assert "200 合" in alice_line.split('data-column="shipped"')[1].split("</td>")[0]
        csv = client.get("/console/town/deliveries.csv", params={"season": SEASON})
        assert csv.content.decode("utf-8").count("\r\n") == 3  # header, Alice, Bob
    assert _state(world, alices["id"]) == "shipped"
    assert _state(world, bobs["id"]) == "requested"


def test_the_shipping_list_pages_and_filters(
    world: World,
    requested: tuple[dict[str, Any], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alices, bobs = requested
    monkeypatch.setattr(deliveries, "PAGE", 1)
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        first = client.get("/console/farmer/shipping", params={"work": str(world.a.work_id)})
        assert alices["id"] in first.text
        assert bobs["id"] not in first.text
        link = re.search(r'href="\?([^"]*cursor=[^"]+)"', first.text)
        assert link, first.text
        second = client.get("/console/farmer/shipping?" + link.group(1).replace("&amp;", "&"))
        assert bobs["id"] in second.text
        assert alices["id"] not in second.text
        assert 'href="?' not in second.text.split("</table>")[1]  # the last page
        refused = client.get("/console/farmer/shipping", params={"state": "refused"})
        assert "表示する引き換えはありません" in refused.text
        assert client.get("/console/farmer/shipping", params={"work": "nope"}).status_code == 404
