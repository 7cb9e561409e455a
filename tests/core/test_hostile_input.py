"""Hostile input never crashes, stalls or leaks.

Bodies too deep, too large or too slow; control characters in any text; integers past
what the database holds; and what the log keeps of a database error. Everything goes
through the real app over HTTP (a raw socket where a client must misbehave), and the
crash is tried on a real ``kokudaka serve`` process, since it would take pytest down
with it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text

from kokudaka.core.request_guard import MAX_BODY_DEPTH, body_depth
from kokudaka.core.settings import Settings
from kokudaka.models import IdempotencyRecord, PaymentEvent, User
from tests.conftest import serving
from tests.fixtures.servers import free_port
from tests.investments.webhooks import signed_raw_webhook
from tests.world import PASSWORD, World, count

INT64_MAX = 2**63 - 1


def _raw_request(base_url: str, head: str, body: bytes = b"") -> socket.socket:
    """A connection that has sent ``head`` (request line and headers) and ``body``."""
    port = int(base_url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of the one response on ``sock``, read until it closes."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        assert data, "reset before any answer"
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# -- depth ------------------------------------------------------------------------------


def test_recursion_limit_is_the_default_once_the_app_is_built(tmp_path: Path) -> None:
    """web3's py_ecc raises the limit to 100,000, past what the C stack holds."""
    script = (
        "import sys\n"
        "from kokudaka.core.settings import Settings\n"
        "from kokudaka.main import create_app\n"
        f"create_app(Settings(chain_enabled=False, data_dir={str(tmp_path)!r}))\n"
        "print(sys.getrecursionlimit())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert int(result.stdout.strip()) == 1000


@pytest.fixture
def served_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``kokudaka serve`` in its own process (SQLite, no chain), and its URL."""
    port = free_port()
    env = {
        **os.environ,
        "KOKUDAKA_ENV": "test",
        "KOKUDAKA_DATA_DIR": str(tmp_path / "data"),
        "KOKUDAKA_DATABASE_URL": "",
        "KOKUDAKA_CHAIN_ENABLED": "false",
        "KOKUDAKA_PORT": str(port),
        "KOKUDAKA_ANVIL_PORT": str(free_port()),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "kokudaka"), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "kokudaka serve exited"
            try:
                if httpx.get(f"{url}/v1/farmers", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kokudaka serve did not answer"
            time.sleep(0.2)
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_deeply_nested_body_is_refused_and_the_process_lives(
    served_process: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = served_process
    body = "[" * 100_000 + "]" * 100_000
    response = httpx.post(
        f"{url}/v1/auth/register",
        content=body,
        headers={"Content-Type": "application/json", "Accept-Language": "en"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "body_too_deep"
    assert str(MAX_BODY_DEPTH) in response.json()["detail"]
    # Without a content type FastAPI parses the body as JSON too.
    bare = httpx.post(f"{url}/v1/auth/register", content=body, timeout=30)
    assert bare.status_code == 400
    assert process.poll() is None
    assert httpx.get(f"{url}/v1/farmers", timeout=10).status_code == 200


def test_depth_is_refused_past_the_limit_only(client: httpx.Client) -> None:
    at_limit = "[" * MAX_BODY_DEPTH + "]" * MAX_BODY_DEPTH
    response = client.post(
        "/v1/auth/register", content=at_limit, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text  # parsed: not a sign-up, but no refusal
    assert response.json()["code"] == "validation_error"
    too_deep = '{"a":' * (MAX_BODY_DEPTH + 1) + "1" + "}" * (MAX_BODY_DEPTH + 1)
    response = client.post(
        "/v1/auth/register",
        content=too_deep,
        headers={"Content-Type": "application/json", "Accept-Language": "ja"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "body_too_deep"
    assert response.json()["title"] == "リクエスト本文の入れ子が深すぎます(上限64階層)。"


def test_brackets_inside_strings_do_not_count(client: httpx.Client) -> None:
    name = '"\\[' + "[" * 200
    response = client.post(
        "/v1/auth/register",
        json={"email": "brackets@example.jp", "password": PASSWORD, "display_name": name[:100]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["display_name"] == name[:100]


def test_body_depth_reads_strings_and_escapes_and_stays_linear() -> None:
    assert body_depth(b"[" * 65 + b"]" * 65) == 65
    assert body_depth(b'["' + b"[" * 100 + b'"]') == 1
    inside = b'["\\"' + b"[" * 100 + b'", ' + b"[" * 70 + b"]" * 70 + b"]"
    assert body_depth(inside) == 71
    assert body_depth(b'["\\\\", ' + b"[" * 70 + b"]" * 70 + b"]") == 71
    # An escaped quote repeated with no closing quote: a naive pattern is quadratic here.
    hostile = b'"' + b'\\"[' * 350_000
    started = time.perf_counter()
    assert body_depth(hostile) == 0  # never closed: every bracket is inside the string
    assert body_depth(b"[" * 1_000_000) == 1_000_000
    assert time.perf_counter() - started < 1.0


# -- size -------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_it_is_sent(base_url: str) -> None:
    sock = _raw_request(
        base_url,
        "POST /v1/auth/register HTTP/1.1\nHost: test\nContent-Type: application/json\n"
        "Accept-Language: en\nContent-Length: 20971520\n",
    )
    with sock:
        sock.settimeout(3)  # the body never comes: the answer must not wait for it
        status, problem = _read_response(sock)
    assert status == 413
    assert problem["code"] == "request_too_large"
    assert problem["detail"] == "The request body is larger than 1048576 bytes."


def test_a_chunked_body_is_counted_as_it_comes(base_url: str, engine: Engine) -> None:
    sock = _raw_request(
        base_url,
        "POST /v1/auth/register HTTP/1.1\nHost: test\nContent-Type: application/json\n"
        "Transfer-Encoding: chunked\n",
    )
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    with sock:
        for _ in range(17):  # 64 KiB past the limit, and never terminated
            sock.sendall(chunk)
        sock.settimeout(3)
        status, problem = _read_response(sock)
    assert status == 413
    assert problem["code"] == "request_too_large"


# -- slow clients -----------------------------------------------------------------------


@pytest.fixture
def impatient_url(settings: Settings) -> Iterator[str]:
    """A second server on the same database that waits one second for a body."""
    with serving(settings.model_copy(update={"request_body_timeout_seconds": 1.0})) as url:
        yield url


def test_a_slow_body_holds_no_database_slot_and_times_out(world: World, impatient_url: str) -> None:
    started = time.monotonic()
    slow = _raw_request(
        impatient_url,
        "POST /v1/payments/webhook HTTP/1.1\nHost: test\nContent-Type: application/json\n"
        "Kokudaka-Signature: t=1,v1=00\nAccept-Language: en\nContent-Length: 100\n",
        b'{"event_id": ',
    )
    with slow, httpx.Client(base_url=impatient_url, timeout=3) as other:
        # On SQLite one request at a time is admitted: a slow body must not be it.
        for _ in range(3):
            response = other.get("/v1/me", headers=world.alice.headers)
            assert response.status_code == 200, response.text
        assert time.monotonic() - started < 0.9
        status, problem = _read_response(slow)  # read until the server closes
        waited = time.monotonic() - started
    assert status == 408
    assert problem["code"] == "request_timeout"
    assert problem["detail"] == "The request body did not arrive within 1 seconds."
    assert 0.9 < waited < 5


# -- control characters -----------------------------------------------------------------


def _control_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    [error] = [e for e in problem["errors"] if e["type"] == "control_character"]
    return dict(error)


@pytest.mark.parametrize("name", ["a\u0000b", "a\u0007b", "a\nb", "a\tb", "a\u0085b"])
def test_control_characters_in_a_name_are_refused(world: World, name: str) -> None:
    email = f"ctl-{uuid.uuid4().hex[:8]}@example.jp"
    response = world.client.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": name}
    )
    assert _control_error(response)["loc"] == ["body", "display_name"]
    with world.db() as session:
        assert session.scalar(select(func.count()).where(User.email == email)) == 0


def test_free_text_keeps_its_line_breaks_but_no_other_control(world: World) -> None:
    url = f"/v1/farmers/{world.a.farmer_id}"
    story = "一行目\n二行目\r\n\tおわり"
    ok = world.client.patch(url, json={"story": story}, headers=world.a.farmer.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["story"] == story
    nul = world.client.patch(url, json={"story": "a\u0000b"}, headers=world.a.farmer.headers)
    assert _control_error(nul)["loc"] == ["body", "story"]
    in_list = world.client.patch(
        url, json={"varieties": ["コシヒカリ", "a\u0000"]}, headers=world.a.farmer.headers
    )
    assert _control_error(in_list)["loc"] == ["body", "varieties"]


def test_control_characters_in_form_query_and_path_are_refused(world: World) -> None:
    form = world.client.post("/v1/auth/token", data={"username": "a\u0000b", "password": "x"})
    assert _control_error(form)["loc"] == ["body", "username"]
    query = world.client.get("/v1/farmers", params={"q": "a\u0000b"})
    assert _control_error(query)["loc"] == ["query", "q"]
    path = world.client.get("/v1/farmers/a%00b")
    assert _control_error(path)["loc"] == ["path"]


def test_an_idempotency_key_with_a_control_character_is_refused(world: World) -> None:
    response = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 1000},
        headers={**world.alice.headers, "Idempotency-Key": "key\tone"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count(world, IdempotencyRecord) == 0


def _webhook(world: World, raw: bytes, timestamp: int | None = None) -> httpx.Response:
    return signed_raw_webhook(world, raw, timestamp=timestamp)


def _invest(world: World) -> str:
    response = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 1000},
        headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_signed_webhook_with_a_control_character_is_refused(world: World) -> None:
    event = {
        "event_id": "evt\u0000",
        "investment_id": _invest(world),
        "amount_yen": 1000,
        "payment_reference": "ch_1",
    }
    response = _webhook(world, json.dumps(event).encode())
    assert _control_error(response)["loc"] == ["body", "event_id"]
    assert count(world, PaymentEvent) == 0


def test_the_openapi_document_states_the_rule(client: httpx.Client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    name = schemas["RegisterRequest"]["properties"]["display_name"]["pattern"]
    story = schemas["FarmerUpdate"]["properties"]["story"]["pattern"]
    assert re.search(name, "山田花子")
    assert not re.search(name, "a\u0000b")
    assert not re.search(name, "a\nb")
    assert re.search(story, "一行目\n二行目\t")
    assert not re.search(story, "a\u0007b")


@pytest.mark.parametrize("email", ["hanako@example", "hanako@example..jp", "a b@example.jp"])
def test_emails_are_checked_by_a_validator(client: httpx.Client, email: str) -> None:
    response = client.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "x"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "email"]


def test_emails_are_lower_cased(client: httpx.Client) -> None:
    response = client.post(
        "/v1/auth/register",
        json={"email": "Hanako@Example.JP", "password": PASSWORD, "display_name": "花子"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "hanako@example.jp"


# -- huge integers ----------------------------------------------------------------------


def test_a_signed_webhook_with_a_huge_timestamp_is_only_stale(world: World) -> None:
    event = {
        "event_id": "evt_huge",
        "investment_id": _invest(world),
        "amount_yen": 1000,
        "payment_reference": "ch_1",
    }
    response = _webhook(world, json.dumps(event).encode(), timestamp=10**400)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "webhook_stale"


def test_huge_integers_in_query_and_body_are_refused(world: World) -> None:
    limit = world.client.get("/v1/farmers", params={"limit": str(10**400)})
    assert limit.status_code == 422, limit.text
    amount = world.client.post(
        "/v1/investments",
        content=f'{{"work_id": "{world.a.work_id}", "amount_yen": {10**30}}}',
        headers={
            **world.alice.headers,
            "Idempotency-Key": "huge",
            "Content-Type": "application/json",
        },
    )
    assert amount.status_code == 422, amount.text


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_instant_past_what_utc_holds_is_refused(world: World, instant: str) -> None:
    response = world.client.get(
        "/v1/audit/issuances", params={"from": instant}, headers=world.auditor.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "from"]


def _integer_schemas(node: Any, components: dict[str, Any], seen: set[str]) -> Iterator[Any]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                yield from _integer_schemas(components[name], components, seen)
        if node.get("type") == "integer":
            yield node
        for value in node.values():
            yield from _integer_schemas(value, components, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _integer_schemas(value, components, seen)


def test_every_integer_a_request_can_carry_fits_a_bigint(client: httpx.Client) -> None:
    """An unbounded integer reaches int() arithmetic, datetime or a BIGINT column and
    fails there as a server error; each one is bounded where the request is read."""
    document = client.get("/openapi.json").json()
    components = document.get("components", {}).get("schemas", {})
    unbounded = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            inputs = [operation.get("parameters", []), operation.get("requestBody", {})]
            for schema in _integer_schemas(inputs, components, set()):
                high = schema.get("maximum", schema.get("exclusiveMaximum"))
                low = schema.get("minimum", schema.get("exclusiveMinimum"))
                if high is None or low is None or high > INT64_MAX or low < -INT64_MAX - 1:
                    unbounded.append(f"{method.upper()} {path}: {schema}")
    assert unbounded == []


# -- logs -------------------------------------------------------------------------------

_FAILING_TRIGGER = {
    ("sqlite", "integrity"): [
        "CREATE TRIGGER leak_check BEFORE INSERT ON users "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    ("sqlite", "unexpected"): [
        # SQLITE_TOOBIG: a DataError, the service's "unexpected database error" path.
        "CREATE TRIGGER leak_check BEFORE INSERT ON users BEGIN SELECT zeroblob(2000000000); END"
    ],
    ("postgresql", "integrity"): [
        "CREATE FUNCTION leak_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE unique_violation USING MESSAGE = format("
        "'duplicate key value violates unique constraint, %s', NEW.display_name), "
        "DETAIL = format('Key (email)=(%s) already exists.', NEW.email); END $$",
        "CREATE TRIGGER leak_check BEFORE INSERT ON users "
        "FOR EACH ROW EXECUTE FUNCTION leak_check()",
    ],
    ("postgresql", "unexpected"): [
        "CREATE FUNCTION leak_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'refused for %', NEW.display_name USING DETAIL = NEW.email; END $$",
        "CREATE TRIGGER leak_check BEFORE INSERT ON users "
        "FOR EACH ROW EXECUTE FUNCTION leak_check()",
    ],
}
_DROP_TRIGGER = {
    "sqlite": ["DROP TRIGGER leak_check"],
    "postgresql": ["DROP TRIGGER leak_check ON users", "DROP FUNCTION leak_check()"],
}


@pytest.mark.parametrize(("kind", "status"), [("integrity", 409), ("unexpected", 500)])
def test_a_database_error_logs_no_value_of_the_request(
    client: httpx.Client,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    status: int,
) -> None:
    secret = uuid.uuid4().hex
    body = {
        "email": f"leak-{secret}@example.jp",
        "password": f"pw-{secret}-long-enough",
        "display_name": f"name-{secret}",
    }
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for statement in _FAILING_TRIGGER[dialect, kind]:
            conn.execute(text(statement))
    try:
        with caplog.at_level(logging.WARNING, logger="kokudaka"):
            response = client.post("/v1/auth/register", json=body)
    finally:
        with engine.begin() as conn:
            for statement in _DROP_TRIGGER[dialect]:
                conn.execute(text(statement))
    assert response.status_code == status, response.text
    records = [r for r in caplog.records if r.name == "kokudaka.core.errors"]
    assert records, "the database error was not logged"
    logged = "\n".join(logging.Formatter().format(r) for r in records)  # tracebacks too
    assert "/v1/auth/register" in logged
    assert secret not in logged  # no email, name, password or its hash
    assert "$argon2" not in logged
