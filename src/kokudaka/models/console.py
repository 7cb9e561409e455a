"""Sessions of the web console, where farmers and staff work in the browser."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin


class ConsoleSession(CreatedAtMixin, Base):
    """One signed-in browser of the console (farmers and staff; supporters use the app).

    Kept in the database rather than in a signed cookie so that signing out, the idle
    timeout and disabling the account end it at once, on every service process. The
    browser holds only a random secret; the row is found by its SHA-256.
    """

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hex SHA-256 of the secret in the browser's cookie (the secret itself is never stored)."""
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_version: Mapped[int]
    """The account's ``token_version`` at sign-in: disabling the account moves it on, which
    ends this session as it ends the account's API tokens."""
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Sent back in a hidden field of every form; a post without it is refused."""
    last_seen_at: Mapped[datetime]
    """The last request; a session idle longer than the console's timeout has ended."""
