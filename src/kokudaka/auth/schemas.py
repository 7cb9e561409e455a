"""Sign-up, token and account schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from kokudaka.core.schemas import RequestModel, ResponseModel
from kokudaka.models import Role


def _email(value: str) -> str:
    # Syntax only, no DNS look-up; taken as sent (Pydantic's EmailStr would trim spaces
    # and take "Name <address>"). Addresses under the names RFC 2606 keeps for testing
    # (.test) are taken like any other: the service sends no mail, an address is a
    # sign-in name. Accounts are found by the lower-cased address: Hanako@Example.JP
    # signs in as hanako@example.jp.
    try:
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "email", "Not a valid email address: {reason}", {"reason": str(exc)}
        ) from exc
    return checked.normalized.lower()


Email = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "description": "An email address (RFC 5321); addresses at reserved names "
            "(localhost, .local, .invalid, .onion, .arpa) are refused.",
        }
    ),
]
"""An address checked by ``email-validator`` (syntax only, no DNS look-up), lower-cased."""
Password = Annotated[str, StringConstraints(min_length=10, max_length=128)]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class RegisterRequest(RequestModel):
    """Self sign-up; every account made this way is a supporter."""

    email: Email = Field(examples=["hanako@example.jp"])
    password: Password = Field(examples=["correct horse battery"])
    display_name: DisplayName = Field(examples=["山田花子"])


class _StaffCreate(RequestModel):
    email: Email
    password: Password
    display_name: DisplayName


class TownAdminCreate(_StaffCreate):
    """A town administrator, who acts in one town."""

    role: Literal[Role.town_admin]
    municipality_id: uuid.UUID


class AuditorCreate(_StaffCreate):
    """A regional auditor, who reads every town of one region."""

    role: Literal[Role.regional_auditor]
    region_id: uuid.UUID


class PlatformAdminCreate(_StaffCreate):
    """Another platform administrator: belongs to no town or region."""

    role: Literal[Role.platform_admin]


StaffCreate = Annotated[
    TownAdminCreate | AuditorCreate | PlatformAdminCreate, Field(discriminator="role")
]
"""A staff account, created by a platform administrator; its role says whether it names
a town, a region or neither, and the document states it as one schema per role."""


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
