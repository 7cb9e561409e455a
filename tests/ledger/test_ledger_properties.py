"""Stateful property test of the ledger, driven through the real API.

Random sequences of sign-ups, investments, retries, confirmations (by the town and by
webhook), cancellations, volunteer hours, approvals, rejections and reversals; after
every step the ledger's invariants are checked against the database:

- every journal entry has postings that sum to zero;
- each person's balance (API) equals the sum of their postings and the model's figure;
- the go issued per town and season, plus the go reserved by investments awaiting
  payment, never passes the town's cap; an accepted investment is always confirmable;
- the running totals (issued and reserved go, subscribed yen, each supporter's standing
  issuances per town and season, each town's and farmer's go per day) equal their sums;
- no cause (investment, contribution, reversal) is issued twice.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.core.settings import Settings
from kokudaka.investments.service import signature_for
from kokudaka.ledger.daily import (
    as_date,
    farmer_day_totals,
    farmer_days,
    town_day_totals,
    town_days,
)
from kokudaka.ledger.derived import supporter_season_totals
from kokudaka.ledger.regions import region_supporter_season_totals
from kokudaka.models import (
    Account,
    Activity,
    Base,
    Investment,
    Issuance,
    JournalEntry,
    MunicipalityPolicy,
    Posting,
    RegionSupporterSeason,
    SupporterSeason,
    Work,
)
from tests.world import PRICE_YEN_PER_GO, SEASON, Person, World, build_world

CAP_GO = 3_000


@dataclass
class Placed:
    id: str
    person: Person
    key: str
    yen: int
    go: int
    status: str = "pending_payment"
    entry_id: str | None = None


@dataclass
class Logged:
    id: str
    person: Person
    go: int


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def test_ledger_invariants_hold_under_random_operations(
    client: httpx.Client, db: sessionmaker[Session], settings: Settings, engine: Engine
) -> None:
    class LedgerMachine(RuleBasedStateMachine):
        investments = Bundle("investments")
        contributions = Bundle("contributions")
        entries = Bundle("entries")

        def __init__(self) -> None:
            super().__init__()
            _empty(engine)
            self.world: World = build_world(client, db, settings)
            with db.begin() as session:
                session.execute(update(MunicipalityPolicy).values(yearly_cap_go=CAP_GO))
                activity = Activity(
                    municipality_id=self.world.a.municipality_id,
                    farmer_id=self.world.a.farmer_id,
                    created_by_id=self.world.a.farmer.id,
                    title="草取り",
                    description="",
                    activity_on=date(SEASON, 6, 1),
                    place="田んぼ",
                    go_per_hour=200,
                    capacity=1000,
                    max_minutes_per_person=8 * 60,
                )
                session.add(activity)
                session.flush()
                self.activity_id = activity.id
            self.people: list[Person] = [self.world.alice, self.world.bob]
            self.expected: dict[uuid.UUID, int] = {}
            self.placed_by_key: dict[tuple[uuid.UUID, str], Placed] = {}
            self.joined: set[uuid.UUID] = set()
            self.events = 0

        def teardown(self) -> None:
            _empty(engine)

        # --- rules -------------------------------------------------------------

        @rule()
        def sign_up(self) -> None:
            self.people.append(self.world.new_supporter("p"))

        @rule(
            target=investments,
            who=st.integers(0, 50),
            yen=st.sampled_from([5, 10, 999, 2_500, 10_000, 20_000]),
            key=st.sampled_from(["a", "b", "c"]),
        )
        def invest(self, who: int, yen: int, key: str) -> object:
            person = self.people[who % len(self.people)]
            response = client.post(
                "/v1/investments",
                json={"work_id": str(self.world.a.work_id), "amount_yen": yen},
                headers={**person.headers, "Idempotency-Key": key},
            )
            previous = self.placed_by_key.get((person.id, key))
            if previous is not None:
                if previous.yen == yen:
                    assert response.status_code == 201, response.text
                    assert response.json()["id"] == previous.id
                else:
                    assert response.status_code == 422
                    assert response.json()["code"] == "idempotency_key_reused"
                return multiple()
            if yen < PRICE_YEN_PER_GO:
                assert response.status_code == 409
                assert response.json()["code"] == "investment_too_small"
                return multiple()
            if self._issued() + self._reserved() + yen // PRICE_YEN_PER_GO > CAP_GO:
                assert response.status_code == 409, response.text
                assert response.json()["code"] == "issuance_cap_exceeded"
                return multiple()
            assert response.status_code == 201, response.text
            placed = Placed(response.json()["id"], person, key, yen, yen // PRICE_YEN_PER_GO)
            self.placed_by_key[(person.id, key)] = placed
            return placed

        @rule(placed=investments, by_webhook=st.booleans())
        def confirm(self, placed: Placed, by_webhook: bool) -> None:
            if by_webhook:
                self.events += 1
                raw = json.dumps(
                    {
                        "event_id": f"evt-{self.events}",
                        "investment_id": placed.id,
                        "amount_yen": placed.yen,
                        "payment_reference": "w",
                    }
                ).encode()
                ts = int(time.time())
                response = client.post(
                    "/v1/payments/webhook",
                    content=raw,
                    headers={
                        "Content-Type": "application/json",
                        "Kokudaka-Signature": f"t={ts},v1="
                        + signature_for(settings.payment_webhook_secret, ts, raw),
                    },
                )
            else:
                response = client.post(
                    f"/v1/investments/{placed.id}/confirm",
                    json={"payment_reference": "p"},
                    headers=self.world.a.admin.headers,
                )
            if placed.status != "pending_payment":
                assert response.status_code == 409
                assert response.json()["code"] == "investment_not_pending"
                return
            # Its go was reserved when it was made: the cap never refuses it now.
            assert response.status_code == 200, response.text
            placed.status = "confirmed"
            placed.entry_id = response.json()["issuance"]["entry_id"]
            self.expected[placed.person.id] = self.expected.get(placed.person.id, 0) + placed.go

        @rule(placed=investments)
        def cancel(self, placed: Placed) -> None:
            response = client.post(
                f"/v1/investments/{placed.id}/cancel", headers=placed.person.headers
            )
            if placed.status == "pending_payment":
                assert response.status_code == 200
                placed.status = "cancelled"
            else:
                assert response.status_code == 409

        @rule(target=contributions, who=st.integers(0, 50), quarters=st.integers(1, 40))
        def log_hours(self, who: int, quarters: int) -> object:
            person = self.people[who % len(self.people)]
            response = client.post(
                f"/v1/activities/{self.activity_id}/contributions",
                json={"hours": str(quarters / 4)},
                headers=person.headers,
            )
            if quarters > 32:
                assert response.status_code == 409
                assert response.json()["code"] == "hours_exceed_limit"
                return multiple()
            if person.id in self.joined:
                assert response.status_code == 409
                assert response.json()["code"] == "already_joined"
                return multiple()
            assert response.status_code == 201, response.text
            self.joined.add(person.id)
            return Logged(response.json()["id"], person, 200 * quarters * 15 // 60)

        @rule(target=entries, logged=consumes(contributions), approve=st.booleans())
        def review(self, logged: Logged, approve: bool) -> object:
            if not approve:
                response = client.post(
                    f"/v1/contributions/{logged.id}/reject",
                    json={"reason": "not seen on the day"},
                    headers=self.world.a.farmer.headers,
                )
                assert response.status_code == 200, response.text
                return multiple()
            over_cap = self._issued() + self._reserved() + logged.go > CAP_GO
            response = client.post(
                f"/v1/contributions/{logged.id}/approve",
                json={},
                headers=self.world.a.farmer.headers,
            )
            if over_cap:
                assert response.status_code == 409
                assert response.json()["code"] == "issuance_cap_exceeded"
                return multiple()
            assert response.status_code == 200, response.text
            self.expected[logged.person.id] = self.expected.get(logged.person.id, 0) + logged.go
            return (response.json()["issuance"]["entry_id"], logged.person.id, logged.go)

        @rule(placed=investments)
        def reverse_investment(self, placed: Placed) -> None:
            if placed.entry_id is None:
                return
            self._reverse(placed.entry_id, placed.person.id, placed.go)
            placed.entry_id = None

        @rule(entry=consumes(entries))
        def reverse_contribution(self, entry: tuple[str, uuid.UUID, int]) -> None:
            self._reverse(*entry)

        def _reverse(self, entry_id: str, person_id: uuid.UUID, go: int) -> None:
            url = f"/v1/ledger/entries/{entry_id}/reverse"
            response = client.post(
                url, json={"reason": "mistake"}, headers=self.world.a.admin.headers
            )
            assert response.status_code == 201, response.text
            self.expected[person_id] -= go
            again = client.post(url, json={"reason": "again"}, headers=self.world.a.admin.headers)
            assert again.status_code == 409

        # --- invariants --------------------------------------------------------

        def _issued(self) -> int:
            with db() as session:
                return int(
                    session.scalar(select(func.coalesce(func.sum(Issuance.amount_go), 0))) or 0
                )

        @invariant()
        def entries_sum_to_zero(self) -> None:
            with db() as session:
                unbalanced = session.execute(
                    select(Posting.entry_id)
                    .group_by(Posting.entry_id)
                    .having((func.sum(Posting.amount_go) != 0) | (func.count() < 2))
                ).all()
                entries = session.scalar(select(func.count()).select_from(JournalEntry))
                with_postings = session.scalar(select(func.count(func.distinct(Posting.entry_id))))
            assert unbalanced == []
            assert entries == with_postings

        @invariant()
        def balances_match_postings_and_model(self) -> None:
            for person in self.people:
                api = client.get("/v1/me/balance", headers=person.headers)
                assert api.status_code == 200
                assert api.json()["balance"]["go"] == self.expected.get(person.id, 0)

        @invariant()
        def running_balances_equal_their_postings(self) -> None:
            with db() as session:
                summed = dict(
                    session.execute(
                        select(Posting.account_id, func.sum(Posting.amount_go)).group_by(
                            Posting.account_id
                        )
                    ).all()
                )
                for account in session.scalars(select(Account)):
                    assert account.balance_go == summed.get(account.id, 0), account.key

        def _reserved(self) -> int:
            """Go the model expects held for its investments awaiting payment."""
            return sum(p.go for p in self.placed_by_key.values() if p.status == "pending_payment")

        @invariant()
        def cap_is_never_passed(self) -> None:
            assert self._issued() + self._reserved() <= CAP_GO

        @invariant()
        def supporter_seasons_equal_their_issuances(self) -> None:
            """The relationship population's running rows, per town and per region,
            moved by issuing and reversing, equal the standing issuances counted afresh
            (a row whose issuances were all reversed stays, at zero)."""
            with db() as session:
                running = {
                    (row.municipality_id, row.season, row.user_id): (
                        row.investments,
                        row.contributions,
                    )
                    for row in session.scalars(select(SupporterSeason))
                    if row.investments or row.contributions
                }
                counted = {
                    (town, season, user): (invested, contributed)
                    for town, season, user, invested, contributed in session.execute(
                        supporter_season_totals()
                    )
                }
            assert running == counted
            with db() as session:
                in_regions = {
                    (row.region_id, row.season, row.user_id): (
                        row.investments,
                        row.contributions,
                    )
                    for row in session.scalars(select(RegionSupporterSeason))
                    if row.investments or row.contributions
                }
                counted_in_regions = {
                    (region, season, user): (invested, contributed)
                    for region, season, user, invested, contributed in session.execute(
                        region_supporter_season_totals()
                    )
                }
            assert in_regions == counted_in_regions

        @invariant()
        def issuance_days_equal_their_issuances(self) -> None:
            """The weekly charts' running day rows of towns and farmers, moved by issuing
            and reversing, equal the standing issuances summed afresh per day."""
            with db() as session:
                dialect = session.get_bind().dialect.name
                for table, recount in (
                    (town_days, town_day_totals(dialect)),
                    (farmer_days, farmer_day_totals(dialect)),
                ):
                    running = {
                        (owner, season, day, kind): go
                        for owner, season, day, kind, go in session.execute(table.select())
                        if go
                    }
                    summed = {
                        (owner, season, as_date(day), kind): go
                        for owner, season, day, kind, go in session.execute(recount)
                    }
                    assert running == summed

        @invariant()
        def running_totals_equal_their_sums(self) -> None:
            with db() as session:
                for policy in session.scalars(select(MunicipalityPolicy)):
                    summed = session.scalar(
                        select(func.coalesce(func.sum(Issuance.amount_go), 0)).where(
                            Issuance.municipality_id == policy.municipality_id,
                            Issuance.season == policy.season,
                        )
                    )
                    assert policy.issued_go == summed
                    pending = session.scalar(
                        select(func.coalesce(func.sum(Investment.go_amount), 0))
                        .join(Work, Work.id == Investment.work_id)
                        .where(
                            Investment.municipality_id == policy.municipality_id,
                            Work.season == policy.season,
                            Investment.status == "pending_payment",
                        )
                    )
                    assert policy.reserved_go == pending
                    if policy.municipality_id == self.world.a.municipality_id:
                        assert policy.reserved_go == self._reserved()
                for work in session.scalars(select(Work)):
                    subscribed = session.scalar(
                        select(func.coalesce(func.sum(Investment.amount_yen), 0)).where(
                            Investment.work_id == work.id, Investment.status != "cancelled"
                        )
                    )
                    assert work.subscribed_yen == subscribed
                    assert work.subscribed_yen <= work.offer_yen

        @invariant()
        def no_cause_issues_twice(self) -> None:
            with db() as session:
                confirmed = session.scalar(
                    select(func.count())
                    .select_from(Investment)
                    .where(Investment.status == "confirmed")
                )
                investment_issuances = session.scalar(
                    select(func.count())
                    .select_from(Issuance)
                    .where(Issuance.investment_id.is_not(None))
                )
                keys = session.scalar(
                    select(func.count(func.distinct(JournalEntry.idempotency_key)))
                )
                entries = session.scalar(select(func.count()).select_from(JournalEntry))
            assert confirmed == investment_issuances
            assert keys == entries

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings_for_ledger_machine(),
    )


def settings_for_ledger_machine() -> settings:
    return settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        # Shrinking a failing HTTP sequence can take many minutes; the failing steps
        # are printed without it, and CI time stays bounded.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
