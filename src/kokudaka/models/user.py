"""Accounts of people who use the service, and the sign-in throttle."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin


class Role(StrEnum):
    """What an account may do. One role per account."""

    supporter = "supporter"
    """応援者: invests in works and volunteers; signs up by themselves."""
    farmer = "farmer"
    """アーティスト (artist): a rice farmer, created by their town's administrator."""
    town_admin = "town_admin"
    """A municipality's administrator: farmers, payments, policy, audit, reversals."""
    regional_auditor = "regional_auditor"
    """Reads every municipality of one region; changes nothing."""
    platform_admin = "platform_admin"
    """Creates regions, municipalities and town administrators."""


class User(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Stored lower-cased, so sign-in and uniqueness ignore case."""
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32))
    municipality_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("municipalities.id"), index=True
    )
    """Set for farmers and town administrators: the town whose scope they act in."""
    region_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("regions.id"))
    """Set for regional auditors."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    """The generation of the account's access tokens: every token names the version it
    was issued under and is refused once this moves on. Disabling an account moves it
    on, so tokens issued before a disable stay dead after the account is enabled."""
    wallet_address: Mapped[str | None] = mapped_column(String(42), unique=True)
    """Where this user's KOKU is minted: a custodial address or one they proved is theirs."""
    wallet_key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The custodial private key, encrypted at rest; null for self-custodied addresses."""
    home_prefecture_code: Mapped[str | None] = mapped_column(String(2))
    """A supporter's home prefecture (都道府県) as its JIS X 0401 code, ``"01"`` (Hokkaido)
    to ``"47"`` (Okinawa), if they chose to give it: never required. Counted for the
    relationship population (関係人口) statistics, never shown per person."""


class SignInFailure(IdMixin, Base):
    """One failed sign-in, kept for the throttle window (in the database so that every
    service process sees the same count)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_email_failed_at", "email", "failed_at"),)

    email: Mapped[str] = mapped_column(String(254))
    failed_at: Mapped[datetime]


class WalletChallenge(IdMixin, CreatedAtMixin, Base):
    """A one-time message a user signs (EIP-191) to prove an address is theirs."""

    __tablename__ = "wallet_challenges"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    address: Mapped[str] = mapped_column(String(42))
    message: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
