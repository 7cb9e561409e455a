"""The audit list and CSV export of issuances: scope, filters and paging."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from kokudaka.audit.schemas import CSV_COLUMNS, CSV_COLUMNS_JA
from kokudaka.audit.service import export_csv
from kokudaka.ledger import service as ledger
from kokudaka.ledger.memos import Memo
from kokudaka.models import Issuance, IssuanceKind, Municipality, User
from tests.volunteering.helpers import logged, post_activity
from tests.world import PRICE_YEN_PER_GO, SEASON, Town, World, assert_problem


def _invest(world: World, town: Town, supporter_id: uuid.UUID, amount_go: int) -> uuid.UUID:
    """An investment issuance, written by the ledger service (investments are not ours)."""
    with world.db.begin() as session:
        issued = ledger.issue(
            session,
            municipality_id=town.municipality_id,
            season=SEASON,
            recipient_id=supporter_id,
            amount_go=amount_go,
            cause=ledger.IssuanceCause(
                kind=IssuanceKind.investment,
                idempotency_key=f"investment:{uuid.uuid4()}",
                memo=Memo("investment", {"amount_yen": 0, "title": "test investment"}),
                farmer_id=town.farmer_id,
                work_id=town.work_id,
                price_yen_per_go=PRICE_YEN_PER_GO,
            ),
            actor_id=None,
        )
        return issued.issuance.id


def _volunteer(client: httpx.Client, world: World, town: Town, hours: str) -> str:
    activity = post_activity(client, town.farmer)
    contribution = logged(client, world.new_supporter(), activity["id"], hours)
    response = client.post(
        f"/v1/contributions/{contribution['id']}/approve", headers=town.admin.headers
    )
    assert response.status_code == 200, response.text
    issuance_id: str = response.json()["issuance"]["id"]
    return issuance_id


@pytest.fixture
def issuances(client: httpx.Client, world: World) -> dict[str, str]:
    """Two issuances in town a (one reversed) and two in town b, of both kinds."""
    made = {
        "a_contribution": _volunteer(client, world, world.a, "2"),
        "a_investment": str(_invest(world, world.a, world.alice.id, 3000)),
        "b_contribution": _volunteer(client, world, world.b, "1.5"),
        "b_investment": str(_invest(world, world.b, world.bob.id, 700)),
    }
    with world.db.begin() as session:
        admin = session.get(User, world.a.admin.id)
        assert admin is not None
        reversed_one = session.get(Issuance, uuid.UUID(made["a_investment"]))
        assert reversed_one is not None
        ledger.reverse(session, entry_id=reversed_one.entry_id, actor=admin, reason="charged back")
    return made


def _ids(client: httpx.Client, person: Any, **params: str) -> set[str]:
    response = client.get("/v1/audit/issuances", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_scope_follows_the_role(
    client: httpx.Client, world: World, issuances: dict[str, str]
) -> None:
    town_a = {issuances["a_contribution"], issuances["a_investment"]}
    town_b = {issuances["b_contribution"], issuances["b_investment"]}
    assert _ids(client, world.a.admin) == town_a
    assert _ids(client, world.b.admin) == town_b
    assert _ids(client, world.auditor) == town_a | town_b
    assert _ids(client, world.platform_admin) == town_a | town_b
    assert _ids(client, world.other_region_auditor) == set()
    assert _ids(client, world.auditor, municipality_id=str(world.b.municipality_id)) == town_b
    assert _ids(client, world.a.admin, municipality_id=str(world.a.municipality_id)) == town_a


def test_outsiders_are_refused(
    client: httpx.Client, world: World, issuances: dict[str, str]
) -> None:
    for path in ("/v1/audit/issuances", "/v1/audit/issuances/export.csv"):
        for person in (world.alice, world.a.farmer):
            assert_problem(client.get(path, headers=person.headers), 403, "forbidden")
        assert_problem(client.get(path), 401, "not_authenticated")
        refused = (
            (world.a.admin, world.b.municipality_id),
            (world.other_region_auditor, world.a.municipality_id),
            (world.a.admin, uuid.uuid4()),
        )
        for person, municipality_id in refused:
            response = client.get(
                path, params={"municipality_id": str(municipality_id)}, headers=person.headers
            )
            assert_problem(response, 403, "forbidden")


def test_filters(client: httpx.Client, world: World, issuances: dict[str, str]) -> None:
    auditor = world.auditor
    assert _ids(client, auditor, kind="contribution") == {
        issuances["a_contribution"],
        issuances["b_contribution"],
    }
    assert _ids(client, auditor, kind="investment") == {
        issuances["a_investment"],
        issuances["b_investment"],
    }
    assert _ids(client, auditor, farmer_id=str(world.b.farmer_id)) == {
        issuances["b_contribution"],
        issuances["b_investment"],
    }
    assert _ids(client, auditor, reversed="true") == {issuances["a_investment"]}
    assert len(_ids(client, auditor, reversed="false")) == 3
    assert _ids(
        client,
        auditor,
        kind="investment",
        reversed="false",
        municipality_id=str(world.b.municipality_id),
    ) == {issuances["b_investment"]}
    for bad in ({"kind": "gift"}, {"reversed": "maybe"}, {"from": "2026-01-01T00:00:00"}):
        response = client.get("/v1/audit/issuances", params=bad, headers=auditor.headers)
        assert_problem(response, 422, "validation_error")

    reversed_row = client.get(
        "/v1/audit/issuances", params={"reversed": "true"}, headers=auditor.headers
    ).json()["items"][0]
    assert reversed_row["reversal_entry_id"] is not None
    assert reversed_row["price_yen_per_go"] == PRICE_YEN_PER_GO
    assert reversed_row["chain"]["state"] == "pending"


def test_items_carry_names_and_the_season_filters(
    client: httpx.Client, world: World, issuances: dict[str, str]
) -> None:
    response = client.get("/v1/audit/issuances", headers=world.a.admin.headers)
    assert response.status_code == 200, response.text
    by_id = {item["id"]: item for item in response.json()["items"]}
    invested = by_id[issuances["a_investment"]]
    assert invested["municipality_name"] == "西会津町"
    assert invested["recipient_name"] == "alice"
    assert invested["farmer_name"] == "西会津町の農家"
    assert invested["work_title"] == f"nishiaizu コシヒカリ {SEASON}"
    assert invested["activity_title"] is None
    volunteered = by_id[issuances["a_contribution"]]
    assert volunteered["hours"] == "2"
    assert volunteered["activity_title"] is not None
    assert volunteered["work_title"] is None

    assert len(_ids(client, world.auditor, season=str(SEASON))) == 4
    assert _ids(client, world.auditor, season=str(SEASON - 1)) == set()
    # A misspelt filter is refused rather than ignored (it would answer with everything).
    assert_problem(
        client.get(
            "/v1/audit/issuances", params={"seasons": "2025"}, headers=world.auditor.headers
        ),
        422,
        "unknown_query_parameter",
    )


def test_time_window(client: httpx.Client, world: World, issuances: dict[str, str]) -> None:
    stamps = {
        "a_contribution": datetime(2026, 3, 31, 14, 59, tzinfo=UTC),  # 23:59 JST on 31 March
        "a_investment": datetime(2026, 3, 31, 15, 0, tzinfo=UTC),  # midnight JST on 1 April
        "b_contribution": datetime(2026, 6, 1, tzinfo=UTC),
        "b_investment": datetime(2027, 3, 31, 15, 0, tzinfo=UTC),
    }
    with world.db.begin() as session:
        for name, stamp in stamps.items():
            session.execute(
                update(Issuance)
                .where(Issuance.id == uuid.UUID(issuances[name]))
                .values(created_at=stamp)
            )
    fiscal_2026 = {"from": "2026-04-01T00:00:00+09:00", "to": "2027-04-01T00:00:00+09:00"}
    assert _ids(client, world.platform_admin, **fiscal_2026) == {
        issuances["a_investment"],
        issuances["b_contribution"],
    }
    assert _ids(client, world.platform_admin, to="2026-03-31T15:00:00Z") == {
        issuances["a_contribution"]
    }
    assert _ids(client, world.platform_admin, **{"from": "2027-03-31T15:00:00Z"}) == {
        issuances["b_investment"]
    }


def test_paging_walks_every_issuance_newest_first(client: httpx.Client, world: World) -> None:
    made = [_invest(world, world.a, world.alice.id, 100 + n) for n in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/audit/issuances", params=params, headers=world.a.admin.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(i) for i in reversed(made)]
    assert_problem(
        client.get("/v1/audit/issuances", params={"cursor": "%%%"}, headers=world.a.admin.headers),
        422,
        "invalid_cursor",
    )


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    # Excel reads a UTF-8 file as UTF-8 only when it starts with the byte order mark.
    assert response.content.startswith(b"\xef\xbb\xbf")
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_csv_export(client: httpx.Client, world: World, issuances: dict[str, str]) -> None:
    with world.db.begin() as session:
        session.execute(
            update(Municipality)
            .where(Municipality.id == world.a.municipality_id)
            .values(national_code="074055")
        )
        session.execute(
            update(User).where(User.id == world.alice.id).values(display_name="=山田 花子")
        )
    rows = _csv(client.get("/v1/audit/issuances/export.csv", headers=world.a.admin.headers))
    assert [row["issuance_id"] for row in rows] == sorted(
        [issuances["a_contribution"], issuances["a_investment"]], reverse=True
    )
    by_id = {row["issuance_id"]: row for row in rows}
    volunteered = by_id[issuances["a_contribution"]]
    assert volunteered["national_municipality_code"] == "074055"
    assert volunteered["municipality"] == "西会津町"
    assert volunteered["season"] == str(SEASON)
    assert volunteered["kind"] == "contribution"
    assert volunteered["farmer"] == "西会津町の農家"
    assert volunteered["activity"] != ""
    assert volunteered["work"] == ""
    assert (volunteered["hours"], volunteered["go_per_hour"]) == ("2", "500")
    assert (volunteered["amount_yen"], volunteered["price_yen_per_go"]) == ("", "")
    assert (volunteered["amount_go"], volunteered["amount_koku"]) == ("1000", "1.000")
    assert volunteered["chain_state"] == "pending"
    assert volunteered["tx_hash"] == ""
    assert volunteered["reversal_entry_id"] == ""
    # Japan time to the second, as Excel shows a date and time.
    issued_at = datetime.strptime(volunteered["issued_at"], "%Y-%m-%d %H:%M:%S")
    with world.db() as session:
        made = session.get(Issuance, uuid.UUID(issuances["a_contribution"]))
        assert made is not None
        in_japan = made.created_at.astimezone(timezone(timedelta(hours=9)))
    assert issued_at == in_japan.replace(tzinfo=None, microsecond=0)
    invested = by_id[issuances["a_investment"]]
    assert invested["supporter"] == "'=山田 花子"  # never run as a formula
    assert invested["work"] == f"nishiaizu コシヒカリ {SEASON}"
    assert (invested["price_yen_per_go"], invested["hours"]) == (str(PRICE_YEN_PER_GO), "")
    assert (invested["amount_go"], invested["amount_koku"]) == ("3000", "3.000")
    assert invested["reversal_entry_id"] != ""

    # The same filters as the list.
    filtered = _csv(
        client.get(
            "/v1/audit/issuances/export.csv",
            params={"kind": "investment"},
            headers=world.auditor.headers,
        )
    )
    assert {row["issuance_id"] for row in filtered} == {
        issuances["a_investment"],
        issuances["b_investment"],
    }
    assert {row["municipality"] for row in filtered} == {"西会津町", "喜多方市"}
    assert {row["national_municipality_code"] for row in filtered} == {"074055", ""}
    empty = _csv(
        client.get("/v1/audit/issuances/export.csv", headers=world.other_region_auditor.headers)
    )
    assert empty == []


def test_csv_export_is_japanese_by_default(
    client: httpx.Client, world: World, issuances: dict[str, str]
) -> None:
    response = client.get(
        "/v1/audit/issuances/export.csv",
        headers={**world.a.admin.headers, "Accept-Language": "ja"},
    )
    assert response.status_code == 200
    assert response.headers["content-language"] == "ja"
    reader = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    header, *rows = list(reader)
    assert tuple(header) == CSV_COLUMNS_JA
    assert header[0] == "発行日時"
    kinds = {row[header.index("種別")] for row in rows}
    assert kinds == {"投資", "貢献"}
    assert {row[header.index("チェーン状態")] for row in rows} == {"送信待ち"}
    no_language = client.get(
        "/v1/audit/issuances/export.csv",
        headers={**world.a.admin.headers, "Accept-Language": ""},
    )
    assert no_language.content.decode("utf-8-sig").startswith("発行日時,年度,")


def test_csv_export_reads_in_batches(world: World) -> None:
    made = [_invest(world, world.a, world.alice.id, 10 + n) for n in range(5)]
    chunks = list(
        export_csv(world.db, [Issuance.kind == IssuanceKind.investment], "en", batch_size=2)
    )
    assert len(chunks) == 1 + 3  # the header, then batches of 2, 2 and 1
    rows = list(csv.DictReader(io.StringIO("".join(chunks).removeprefix("\ufeff"))))
    assert [row["issuance_id"] for row in rows] == [str(i) for i in reversed(made)]
    assert [row["amount_go"] for row in rows] == ["14", "13", "12", "11", "10"]
