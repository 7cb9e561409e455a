"""Staff of two towns acting at once over real HTTP: the log's sequence numbers have no gap
and every row chains to the one committed before it.

On PostgreSQL this exercises the head row's ``FOR NO KEY UPDATE`` lock (and that taking
it last in each transaction deadlocks with nothing); on SQLite, ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from kokudaka.audit.verification import verify_log
from kokudaka.models import StaffAction
from tests.audit.staff_log_helpers import staff_log
from tests.world import PRICE_YEN_PER_GO, SEASON, VOLUNTEER_GO_PER_HOUR, Person, Town, World

INVESTMENTS_PER_TOWN = 20
POLICY_CHANGES_PER_TOWN = 8


def _pending(world: World, town: Town, supporter: Person) -> list[str]:
    ids = []
    for _ in range(INVESTMENTS_PER_TOWN):
        response = world.client.post(
            "/v1/investments",
            json={"work_id": str(town.work_id), "amount_yen": 1_000},
            headers={**supporter.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def test_parallel_staff_requests_append_a_gap_free_chain(world: World, base_url: str) -> None:
    requests: list[tuple[str, str, dict[str, object], Person]] = []
    for town, supporter in ((world.a, world.alice), (world.b, world.bob)):
        for investment_id in _pending(world, town, supporter):
            # Each confirmed twice at once: one wins, the other is refused and logs nothing.
            for _ in range(2):
                requests.append(
                    (
                        "POST",
                        f"/v1/investments/{investment_id}/confirm",
                        {"payment_reference": f"p-{investment_id}"},
                        town.admin,
                    )
                )
        for step in range(POLICY_CHANGES_PER_TOWN):
            requests.append(
                (
                    "PUT",
                    f"/v1/municipalities/{town.municipality_id}/policy",
                    {
                        "season": SEASON,
                        "price_yen_per_go": PRICE_YEN_PER_GO,
                        "volunteer_go_per_hour": VOLUNTEER_GO_PER_HOUR + step,
                        "yearly_cap_go": 10_000_000 + step,
                    },
                    town.admin,
                )
            )

    def send(request: tuple[str, str, dict[str, object], Person]) -> int:
        method, path, body, person = request
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return client.request(method, path, json=body, headers=person.headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, requests))
    confirms = 2 * INVESTMENTS_PER_TOWN
    policies = 2 * POLICY_CHANGES_PER_TOWN
    assert statuses.count(200) == confirms + policies, statuses
    assert statuses.count(409) == confirms, statuses

    rows = staff_log(world)
    assert [row.sequence for row in rows] == list(range(1, confirms + policies + 1))
    assert sum(row.action == StaffAction.investment_confirm for row in rows) == confirms
    assert sum(row.action == StaffAction.policy_set for row in rows) == policies
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.hash
    with world.db() as session:
        report = verify_log(session)
    assert report.intact, report.first_break
    assert report.head_sequence == confirms + policies
