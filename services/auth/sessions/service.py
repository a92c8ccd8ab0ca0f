"""Session use cases: start one at login, end it at logout; what both and rotation share.

A refresh token is `<family id>.<secret>` (shared/refresh_tokens.py: the gateway reads the family to
rate-limit refreshes per session); only its HMAC (keyed with JWT_REFRESH_SECRET) is stored, so a
token is useless without the server-side record and a leaked table cannot be replayed. Every login
starts a family with a random token; each refresh spends the presented token and issues its one
successor in the same family (sessions/rotation.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from services.auth.sessions import repository
from services.auth.settings import AuthSettings
from services.auth.tokens.access import issue_access_token
from services.auth.tokens.keys import KeyRing
from shared.audit import Action, Actor, ActorRole, Caller, Origin, Target, audit
from shared.context import ServiceContext
from shared.db import Document
from shared.logging import log_event
from shared.refresh_tokens import compose, family_of

logger = logging.getLogger("auth.sessions")


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class SessionContext(ServiceContext[AuthSettings]):
    """What every session use case needs: the service's context and the keys that sign tokens."""

    ring: KeyRing


def _refresh_secret(settings: AuthSettings) -> bytes:
    assert settings.jwt_refresh_secret is not None  # required in production, generated elsewhere
    return settings.jwt_refresh_secret.get_secret_value().encode()


def hash_refresh_token(settings: AuthSettings, token: str) -> str:
    """The stored form of a refresh token."""
    return hmac.new(_refresh_secret(settings), token.encode(), hashlib.sha256).hexdigest()


# Separates the key that derives successors from the one that hashes tokens for storage.
_SUCCESSOR_KEY_LABEL = b"shop-backend refresh-token successor v1"


def successor_of(settings: AuthSettings, presented: str) -> str:
    """The one refresh token that can ever replace `presented`.

    An HMAC of the presented token under a key derived from JWT_REFRESH_SECRET: every concurrent
    refresh with one token computes the same successor, and a spent token presented again within the
    grace interval is answered with the successor it already produced, so no token can mint a second
    one. Computing it takes the raw token, which is never stored: the table, even with the secret,
    does not yield anyone's current token.
    """
    key = hmac.new(_refresh_secret(settings), _SUCCESSOR_KEY_LABEL, hashlib.sha256).digest()
    digest = hmac.new(key, presented.encode(), hashlib.sha256).digest()
    secret = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()  # the shape of token_urlsafe(32)
    family_id = family_of(presented)
    # A token of the older shape (no family part) is succeeded in its shape; it dies with its family.
    return compose(family_id, secret) if family_id else secret


def refresh_token_document(
    settings: AuthSettings, token_hash: str, family: Document, now: datetime
) -> Document:
    """A new, unspent refresh token of `family`, stored under its hash."""
    idle_expiry = now + timedelta(seconds=settings.refresh_token_idle_ttl_seconds)
    return {
        "_id": token_hash,
        "family_id": family["_id"],
        "user_id": family["user_id"],
        "created_at": now,
        "expires_at": min(idle_expiry, family["expires_at"]),
        "spent_at": None,
        "successor_id": None,
        "purge_at": family["expires_at"],
    }


def issue_tokens(
    ctx: SessionContext, user: Document, refresh_token: str, refresh_doc: Document, now: datetime
) -> IssuedTokens:
    access = issue_access_token(ctx.ring, ctx.settings, user_id=str(user["_id"]), role=user["role"])
    return IssuedTokens(
        access_token=access,
        refresh_token=refresh_token,
        expires_in=ctx.settings.access_token_ttl_seconds,
        refresh_expires_in=int((refresh_doc["expires_at"] - now).total_seconds()),
    )


async def start_session(ctx: SessionContext, user: Document, origin: Origin | None = None) -> IssuedTokens:
    """A new token family for a user who has just proved who they are; the login's audit record
    commits with it."""
    now = datetime.now(UTC)
    family = {
        "_id": uuid.uuid4().hex,
        "user_id": user["_id"],
        "created_at": now,
        "expires_at": now + timedelta(seconds=ctx.settings.refresh_token_absolute_ttl_seconds),
        "revoked_at": None,
        "revoked_reason": None,
    }
    token = compose(family["_id"], secrets.token_urlsafe(32))
    doc = refresh_token_document(ctx.settings, hash_refresh_token(ctx.settings, token), family, now)

    caller = Caller(Actor(str(user["_id"]), ActorRole(user["role"])), origin or Origin())

    async def store(session: AsyncClientSession) -> None:
        await repository.insert_family(ctx.db, family, session)
        await repository.insert_refresh_token(ctx.db, doc, session)
        target = Target("account", user["email"])
        await audit(
            ctx.db, Action.LOGIN_SUCCEEDED, caller, target, session, details={"session": family["_id"]}
        )

    await ctx.transaction(store)
    log_event(logger, "session.started", user_id=str(user["_id"]), family_id=family["_id"])
    return issue_tokens(ctx, user, token, doc, now)


def family_usable(family: Document | None, now: datetime) -> bool:
    return family is not None and family["revoked_at"] is None and family["expires_at"] > now


async def end_session(ctx: SessionContext, presented: str) -> None:
    """Logout: revoke the presented token's family. Unknown tokens are ignored (nothing to reveal)."""
    known = await repository.find_refresh_token(ctx.db, hash_refresh_token(ctx.settings, presented))
    if known is not None and await repository.revoke_family(
        ctx.db, known["family_id"], "logout", datetime.now(UTC)
    ):
        log_event(logger, "session.ended", family_id=known["family_id"], user_id=str(known["user_id"]))
