"""The login use case: brute-force defences, constant-shape password verification, a new session."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.auth.login_attempts.service import LoginGuard
from services.auth.passwords.hashing import PasswordHasher
from services.auth.sessions.errors import InvalidCredentials
from services.auth.sessions.schemas import LoginRequest
from services.auth.sessions.service import IssuedTokens, SessionContext, start_session
from services.auth.users import repository as users
from services.auth.users.service import normalize_email
from shared.audit import ANONYMOUS, Action, Caller, Origin, Outcome, Target, audit
from shared.errors import CaptchaRequired
from shared.logging import log_event

logger = logging.getLogger("auth.login")


async def login(
    ctx: SessionContext,
    hasher: PasswordHasher,
    credentials: LoginRequest,
    *,
    ip: str,
    captcha_ok: bool,
    origin: Origin | None = None,
) -> IssuedTokens:
    """Check the credentials and start a session; one generic 401 for every wrong credential.

    Every attempt is audited against the account's email (never the password): a success in the
    session's own transaction, a failure, and a refusal for want of a CAPTCHA."""
    email = normalize_email(credentials.email)
    now = datetime.now(UTC)
    origin = origin or Origin(ip or None)
    account = Target("account", email)
    guard = LoginGuard(ctx.db, ctx.settings)
    try:
        attempt = await guard.admit(email, ip, now, captcha_ok=captcha_ok)
    except CaptchaRequired:
        await audit(
            ctx.db,
            Action.LOGIN_THROTTLED,
            Caller(ANONYMOUS, origin),
            account,
            outcome=Outcome.REFUSED,
            details={"needs": "captcha"},
        )
        raise
    user = await users.find_by_email(ctx.db, email)
    if user is None:
        # Spend the time a real verification takes, so timing does not reveal unknown emails.
        await hasher.verify_against_dummy(credentials.password)
        verified = False
    else:
        verified = await hasher.verify(user["password_hash"], credentials.password)
    if user is None or not verified:
        delayed = await guard.failed(attempt)
        log_event(logger, "login.failed", logging.WARNING, client_ip=ip, delayed_seconds=delayed)
        details = {"delayed_seconds": delayed, "known_account": user is not None}
        await audit(
            ctx.db,
            Action.LOGIN_FAILED,
            Caller(ANONYMOUS, origin),
            account,
            outcome=Outcome.FAILED,
            details=details,
        )
        raise InvalidCredentials("The email or password is incorrect.")
    await guard.succeeded(attempt)
    if hasher.needs_rehash(user["password_hash"]):
        new_hash = await hasher.hash(credentials.password)
        await users.replace_password_hash(ctx.db, user["_id"], user["password_hash"], new_hash, now)
        log_event(logger, "login.password_rehashed", user_id=str(user["_id"]))
    return await start_session(ctx, user, origin)
