"""Time-ordered identifiers.

Every public id is a UUID whose first 48 bits are the creation time in milliseconds
(the layout of UUIDv7, RFC 9562). Ids are unguessable like UUIDv4, yet sort by time,
so cursor paging can order by the primary key alone.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> uuid.UUID:
    """A UUIDv7: 48-bit ms timestamp, a 12-bit counter for order within a ms, random."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:  # more than 4096 ids in one ms: borrow the next ms
                _last_ms += 1
                _counter = 0
            now_ms = _last_ms
        else:
            _last_ms = now_ms
            _counter = 0
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (now_ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return uuid.UUID(int=value)


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` UUIDv7s in order, as :func:`new_id` makes them one by one, for writers of
    many rows: one lock and one read of the random source for all of them."""
    global _last_ms, _counter
    if count <= 0:
        return []
    with _lock:
        now_ms = max(time.time_ns() // 1_000_000, _last_ms)
        first = _counter + 1 if now_ms == _last_ms else 0
        stamps = []
        ms, counter = now_ms, first
        for _ in range(count):
            if counter > 0xFFF:  # more than 4096 ids in one ms: borrow the next ms
                ms, counter = ms + 1, 0
            stamps.append((ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62))
            counter += 1
        _last_ms, _counter = ms, counter - 1
    noise = os.urandom(8 * count)
    mask = (1 << 62) - 1
    return [
        uuid.UUID(int=stamp | (int.from_bytes(noise[8 * i : 8 * i + 8], "big") & mask))
        for i, stamp in enumerate(stamps)
    ]
