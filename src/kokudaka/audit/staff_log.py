"""Appending to the staff audit log: one hash-chained row per staff action.

Every service that carries out a staff action calls :func:`append_staff_action` in the
action's own transaction, after its last write, so the action and its row commit or
roll back together (a refused action leaves no row), and the API and the console,
which call the same services, are both logged.

Appends are serialised by the one-row head table (:class:`StaffLogHead`): each locks it
(``FOR NO KEY UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the
database's write lock), takes the next sequence number and the previous hash, and
moves it on. So sequence numbers have no gap and each row chains to the one committed
before it, however many staff act at once. The lock is held until commit, which is why
the call comes last: nothing else waits behind it but other appends, and no other lock
is taken after it (no deadlock).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.models import GENESIS_HASH, StaffAction, StaffLogEntry, StaffLogHead, table_of

OPERATOR_ROLE = "operator"
"""The ``actor_role`` of an action taken on the command line (no account acts)."""

log_rows = table_of(StaffLogEntry)
heads = table_of(StaffLogHead)
_HEAD_ID = 1

_LOCK_HEAD = (
    select(heads.c.sequence, heads.c.hash)
    .where(heads.c.id == _HEAD_ID)
    .with_for_update(key_share=True)
)
# The head row is made by the first append (the log starts empty, and a restored or
# emptied database may have none); concurrent first appends meet on its primary key.
_CREATE_HEAD = {
    name: insert_for(heads)
    .values(id=_HEAD_ID, sequence=0, hash=GENESIS_HASH)
    .on_conflict_do_nothing(index_elements=["id"])
    for name, insert_for in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_MOVE_HEAD = (
    update(heads)
    .where(heads.c.id == _HEAD_ID)
    .values(sequence=bindparam("new_sequence"), hash=bindparam("new_hash"))
)
_INSERT_ROW = insert(log_rows)

# Keys that must never reach the log: it is read by every auditor of the town and kept
# forever. A key containing one of these is refused (a programming error, not input).
_SECRET_WORDS = ("password", "secret", "private_key", "ciphertext", "mnemonic", "token")


@dataclass(frozen=True, slots=True)
class StaffLogRow:
    """One row of the staff audit log, as stored."""

    sequence: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str
    municipality_id: uuid.UUID | None
    action: str
    object_type: str
    object_id: str | None
    data: str
    """Canonical JSON text, exactly as hashed."""
    prev_hash: str
    hash: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_at(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON for the staff log: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text as it is: one text for one value."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_jsonable,
    )


def format_at(at: datetime) -> str:
    """A timestamp as hashed: UTC to the microsecond, ``2026-11-27T10:26:06.123456Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(
    *,
    sequence: int,
    at: datetime,
    actor_id: uuid.UUID | None,
    actor_role: str,
    municipality_id: uuid.UUID | None,
    action: str,
    object_type: str,
    object_id: str | None,
    data: str,
    prev_hash: str,
) -> str:
    """Hex SHA-256 of the row's canonical encoding: a JSON object of every field (ids as
    text, ``at`` as :func:`format_at`, ``data`` as its stored text) and ``prev_hash``."""
    encoded = canonical_json(
        {
            "sequence": sequence,
            "at": format_at(at),
            "actor_id": None if actor_id is None else str(actor_id),
            "actor_role": actor_role,
            "municipality_id": None if municipality_id is None else str(municipality_id),
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "data": data,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(encoded.encode()).hexdigest()


def recomputed_hash(row: StaffLogRow, sequence: int | None = None) -> str:
    """The hash ``row``'s fields give (with another ``sequence``, if given)."""
    return row_hash(
        sequence=row.sequence if sequence is None else sequence,
        at=row.at,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        municipality_id=row.municipality_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        data=row.data,
        prev_hash=row.prev_hash,
    )


def _refuse_secrets(value: Any, path: str = "data") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if any(word in str(key).lower() for word in _SECRET_WORDS):
                raise ValueError(f"{path}.{key}: secrets are never written to the staff log")
            _refuse_secrets(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_secrets(item, path)


def _lock_head(conn: Connection) -> tuple[int, str]:
    head = conn.execute(_LOCK_HEAD).first()
    if head is None:
        conn.execute(_CREATE_HEAD[conn.dialect.name])
        head = conn.execute(_LOCK_HEAD).one()
    return int(head.sequence), str(head.hash)


def append_staff_action(
    session: Session,
    actor: Caller | None,
    action: StaffAction,
    *,
    object_type: str,
    object_id: uuid.UUID | str | None,
    data: Mapping[str, Any] | None = None,
    municipality_id: uuid.UUID | None,
) -> StaffLogRow:
    """Append one staff action to the audit log, in ``session``'s transaction.

    - ``actor``: who acted (their role is recorded with them); ``None`` for an
      operator's command (``actor_role`` ``operator``), e.g. ``kokudaka chain allowances``.
    - ``action``: a :class:`~kokudaka.models.StaffAction` (add a member for a new kind).
    - ``object_type``/``object_id``: what was acted on, e.g. ``"investment"`` and its id.
    - ``data``: what the request asked for (JSON values; UUIDs, datetimes, dates and
      enums are turned into text). Stored as canonical JSON. A key naming a password,
      secret, key or token is refused with ``ValueError``: never pass one.
    - ``municipality_id``: the town the action concerns (who may read the row), or
      ``None`` for one above any town (platform administrators read those).

    Call it last in the transaction, after the action's own writes: it locks the log's
    head until commit. Returns the row as written.
    """
    payload = dict(data or {})
    _refuse_secrets(payload)
    conn = session.connection()
    last_sequence, prev_hash = _lock_head(conn)
    fields: dict[str, Any] = {
        "sequence": last_sequence + 1,
        "at": datetime.now(UTC),
        "actor_id": None if actor is None else actor.id,
        "actor_role": OPERATOR_ROLE if actor is None else actor.role.value,
        "municipality_id": municipality_id,
        "action": StaffAction(action).value,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "data": canonical_json(payload),
        "prev_hash": prev_hash,
    }
    row = StaffLogRow(**fields, hash=row_hash(**fields))
    conn.execute(_INSERT_ROW, {**fields, "hash": row.hash})
    conn.execute(_MOVE_HEAD, {"new_sequence": row.sequence, "new_hash": row.hash})
    return row
