"""Properties of the harvest conversion over random works and boards, written to the real
database: two works with the same boards, harvested at two yields, converted by the
service. The bills follow the formula; they never exceed the actual yield times the share
of the plan sold; a bill is monotone in the yield; the ceiling caps it; exactly 100% gives
bills equal to boards; every entry sums to zero in each asset."""

from __future__ import annotations

import uuid
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from kokudaka.harvest.conversion import convert_work
from kokudaka.harvest.yields import BASIS_POINTS, bill_go
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue
from kokudaka.models import (
    Bill,
    IssuanceKind,
    MunicipalityPolicy,
    Role,
    User,
    Work,
    YieldReport,
    YieldReportState,
)
from tests.harvest.test_conversion import assert_ledger_sums
from tests.world import SEASON, World

# Each supporter's board issuances: (investment or labour, go).
board_issuances = st.lists(
    st.tuples(st.sampled_from(list(IssuanceKind)), st.integers(1, 50_000)), min_size=1, max_size=3
)
boards = st.lists(board_issuances, min_size=1, max_size=12)
plans = st.integers(1, 2_000_000)
ceilings = st.integers(BASIS_POINTS, 3 * BASIS_POINTS)


def _work(world: World, session: object, planned: int) -> Work:
    work = Work(
        farmer_id=world.a.farmer_id,
        municipality_id=world.a.municipality_id,
        season=SEASON,
        title=f"property {uuid.uuid4().hex[:8]}",
        variety="コシヒカリ",
        description="",
        field_area_m2=1_000,
        planned_yield_go=planned,
        offer_yen=1_000_000,
        is_open=True,
    )
    session.add(work)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    return work


def _report(world: World, session: object, work: Work, actual: int) -> YieldReport:
    report = YieldReport(
        work_id=work.id,
        municipality_id=work.municipality_id,
        actual_yield_g=actual * 150,
        actual_yield_go=actual,
        harvested_on=date(SEASON, 10, 1),
        photo_urls=[],
        note="",
        state=YieldReportState.countersigned,
        filed_by_id=world.a.farmer.id,
        reviewed_by_id=world.a.admin.id,
    )
    session.add(report)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    return report


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(boards, plans, st.integers(0, 4_000_000), st.integers(0, 4_000_000), ceilings)
def test_bills_over_random_works_and_boards(
    world: World,
    held: list[list[tuple[IssuanceKind, int]]],
    planned: int,
    yield_1: int,
    yield_2: int,
    ceiling: int,
) -> None:
    low, high = sorted((yield_1, yield_2))
    bills: dict[str, dict[uuid.UUID, int]] = {}
    with world.db.begin() as session:
        # The examples share one database: no cap may end them early.
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(yearly_cap_go=10**15)
        )
        people = []
        for _ in held:
            person = User(
                email=f"p-{uuid.uuid4().hex}@example.jp",
                display_name="p",
                role=Role.supporter,
                password_hash="",
            )
            session.add(person)
            people.append(person)
        session.flush()
        for name, actual in (("low", low), ("high", high), ("exact", planned)):
            work = _work(world, session, planned)
            for person, issuances in zip(people, held, strict=True):
                for kind, go in issuances:
                    issue(
                        session,
                        municipality_id=world.a.municipality_id,
                        season=SEASON,
                        recipient_id=person.id,
                        amount_go=go,
                        cause=IssuanceCause(
                            kind=kind,
                            idempotency_key=f"property:{uuid.uuid4()}",
                            memo=Memo("reversal", {"reason": "property"}),
                            work_id=work.id,
                        ),
                        actor_id=None,
                    )
            report = _report(world, session, work, actual)
            convert_work(session, work, report, ceiling, world.a.admin.id)
            bills[name] = {
                b.holder_id: b.amount_go
                for b in session.scalars(select(Bill).where(Bill.work_id == work.id))
            }
        assert_ledger_sums(session)

    sizes = {p.id: sum(go for _, go in h) for p, h in zip(people, held, strict=True)}
    sold = sum(sizes.values())
    for name, actual in (("low", low), ("high", high)):
        assert bills[name] == {
            who: bill_go(board, actual, planned, ceiling) for who, board in sizes.items()
        }
        # Never more rice than the yield (capped) times the share of the plan sold.
        counted = min(actual * BASIS_POINTS, ceiling * planned)
        assert sum(bills[name].values()) * planned * BASIS_POINTS <= counted * sold
        # The ceiling caps every bill.
        for who, board in sizes.items():
            assert bills[name][who] * BASIS_POINTS <= board * ceiling
    for who in sizes:
        assert bills["low"][who] <= bills["high"][who]  # monotone in the yield
    assert bills["exact"] == sizes  # exactly 100%: bills equal boards
