"""Sign-up, token and account schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from kokudaka.core.schemas import RequestModel, ResponseModel
from kokudaka.models import Role


def _normalise_email(value: str) -> str:
    # Accounts are found by their lower-cased address: Hanako@Example.JP signs in as
    # hanako@example.jp.
    return value.lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
"""An address checked by ``email-validator`` (syntax only, no DNS look-up), lower-cased."""
Password = Annotated[str, StringConstraints(min_length=10, max_length=128)]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class RegisterRequest(RequestModel):
    """Self sign-up; every account made this way is a supporter."""

    email: Email = Field(examples=["hanako@example.jp"])
    password: Password = Field(examples=["correct horse battery"])
    display_name: DisplayName = Field(examples=["山田花子"])


class StaffCreate(RequestModel):
    """A town administrator or a regional auditor, created by a platform administrator."""

    email: Email
    password: Password
    display_name: DisplayName
    role: Role = Field(examples=["town_admin"])
    municipality_id: uuid.UUID | None = None
    region_id: uuid.UUID | None = None


class TokenResponse(ResponseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the token expires.")


class UserRead(ResponseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    municipality_id: uuid.UUID | None
    region_id: uuid.UUID | None
    is_active: bool
    wallet_address: str | None
    created_at: datetime


class UserListItem(UserRead):
    """An account as staff see it in the user list."""

    sign_in_locked: bool = Field(
        default=False,
        description="Too many failed sign-ins in the throttle window; an administrator "
        "may lift the lock (`POST /v1/admin/users/{id}/unlock`).",
    )


class PasswordSet(RequestModel):
    """The new password an administrator sets for an account."""

    new_password: Password = Field(examples=["a new correct horse"])
