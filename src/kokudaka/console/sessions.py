"""Console sessions: signing in and out, the idle timeout and CSRF tokens.

The console signs people in with the same accounts, throttle and disabled-account rules
as the API (``kokudaka.auth.service.authenticate``); what differs is only how the
browser holds the result: an HttpOnly cookie with a random secret whose hash names a
``ConsoleSession`` row, instead of a bearer token. A session ends when its owner signs
out, when it has been idle for ``console_idle_timeout_seconds``, and when the account is
disabled (its token version moves on, as for the API's tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller, refuse_unless_current
from kokudaka.auth.service import authenticate
from kokudaka.core.errors import Forbidden, KokudakaError
from kokudaka.core.settings import Settings
from kokudaka.models import ConsoleSession, Role, User, utcnow

SESSION_COOKIE = "kokudaka_console"
#: Before sign-in there is no session to hold a CSRF token: the sign-in and language
#: forms compare their hidden field with this cookie instead (double submit).
PRE_SESSION_COOKIE = "kokudaka_console_csrf"
LANGUAGE_COOKIE = "kokudaka_console_lang"

#: Who works in the console. Supporters use the mobile app.
CONSOLE_ROLES = frozenset(
    {Role.farmer, Role.town_admin, Role.regional_auditor, Role.platform_admin}
)

# Writing last_seen_at on every page view would make each read a write; a minute of
# slack on a timeout of many minutes changes nothing a person notices.
_TOUCH_EVERY = timedelta(seconds=60)


class SignInRequired(Exception):
    """No live console session: the browser is sent to the sign-in page."""


class SupporterRefused(KokudakaError):
    """A supporter's right credentials, at the console: they use the app instead."""

    status = 403
    default_code = "console_supporter_refused"


class CsrfRefused(KokudakaError):
    """A form post without the session's CSRF token."""

    status = 403
    default_code = "console_csrf_refused"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live console session: who is signed in and the token their forms carry."""

    caller: Caller
    display_name: str
    csrf_token: str


def sign_in(
    session: Session, settings: Settings, email: str, password: str
) -> tuple[str, SignedIn]:
    """Check the credentials as the API does and open a session; returns the cookie's
    secret. Raises ``SignInRefused`` (the failure is recorded: the caller commits it),
    ``TooManyRequests`` while throttled, and :class:`SupporterRefused`."""
    user = authenticate(session, settings, email, password)
    if user.role not in CONSOLE_ROLES:
        raise SupporterRefused()
    now = utcnow()
    # Sessions idle past the timeout are dead already; clearing them here keeps the table
    # as small as the number of people signed in, without a job.
    idle_since = now - timedelta(seconds=settings.console_idle_timeout_seconds)
    session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < idle_since))
    secret = new_token()
    row = ConsoleSession(
        token_hash=hash_secret(secret),
        user_id=user.id,
        token_version=user.token_version,
        csrf_token=new_token(),
        last_seen_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return secret, SignedIn(Caller.of(user), user.display_name, row.csrf_token)


def current(
    session: Session, settings: Settings, secret: str | None, *, now: datetime | None = None
) -> SignedIn:
    """The live session the cookie names, or :class:`SignInRequired`.

    The account is checked by the API's own rule (``refuse_unless_current``): a disabled
    account, or one whose token version moved on since sign-in, is signed out.
    """
    if not secret:
        raise SignInRequired()
    now = now or utcnow()
    row = session.get(ConsoleSession, hash_secret(secret))
    if row is None or now - row.last_seen_at > timedelta(
        seconds=settings.console_idle_timeout_seconds
    ):
        raise SignInRequired()
    user = session.get(User, row.user_id)
    if user is None:
        raise SignInRequired()
    as_signed_in = Caller(
        user.id, user.role, user.municipality_id, user.region_id, row.token_version
    )
    try:
        refuse_unless_current(as_signed_in, Caller.of(user) if user.is_active else None)
    except KokudakaError as refused:
        raise SignInRequired() from refused
    if now - row.last_seen_at > _TOUCH_EVERY:
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.token_hash == row.token_hash)
            .values(last_seen_at=now)
        )
    return SignedIn(as_signed_in, user.display_name, row.csrf_token)


def sign_out(session: Session, secret: str | None) -> None:
    if secret:
        token_hash = hash_secret(secret)
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


def check_csrf(expected: str | None, given: str | None) -> None:
    """Refuse a form post whose hidden token is missing or not the expected one."""
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise CsrfRefused()


def require_role(signed_in: SignedIn, *roles: Role) -> Caller:
    if signed_in.caller.role not in roles:
        raise Forbidden()
    return signed_in.caller
