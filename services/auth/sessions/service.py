"""Session use cases: start one at login, rotate its refresh token, end it at logout.

A refresh token is an opaque random value; only its HMAC (keyed with JWT_REFRESH_SECRET) is
stored, so a token is useless without the server-side record and a leaked table cannot be replayed.
Every login starts a family; each refresh spends the presented token and issues its successor in
the same family. A spent token presented again after the grace interval means that two parties
hold the family (RFC 9700 §4.14): the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from services.auth.sessions import repository
from services.auth.sessions.errors import InvalidRefreshToken, RefreshTokenReused
from services.auth.settings import AuthSettings
from services.auth.tokens.access import issue_access_token
from services.auth.tokens.keys import KeyRing
from services.auth.users import repository as users
from shared.db import Database, Document, MongoClient, with_transaction
from shared.logging import log_event

logger = logging.getLogger("auth.sessions")


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class SessionContext:
    """What every session use case needs."""

    db: Database
    client: MongoClient
    ring: KeyRing
    settings: AuthSettings


def hash_refresh_token(settings: AuthSettings, token: str) -> str:
    assert settings.jwt_refresh_secret is not None  # required in production, generated elsewhere
    key = settings.jwt_refresh_secret.get_secret_value().encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _new_refresh_token(ctx: SessionContext, family: Document, now: datetime) -> tuple[str, Document]:
    token = secrets.token_urlsafe(32)
    idle_expiry = now + timedelta(seconds=ctx.settings.refresh_token_idle_ttl_seconds)
    doc = {
        "_id": hash_refresh_token(ctx.settings, token),
        "family_id": family["_id"],
        "user_id": family["user_id"],
        "created_at": now,
        "expires_at": min(idle_expiry, family["expires_at"]),
        "spent_at": None,
        "purge_at": family["expires_at"],
    }
    return token, doc


def _issue(
    ctx: SessionContext, user: Document, refresh_token: str, refresh_doc: Document, now: datetime
) -> IssuedTokens:
    access = issue_access_token(ctx.ring, ctx.settings, user_id=str(user["_id"]), role=user["role"])
    return IssuedTokens(
        access_token=access,
        refresh_token=refresh_token,
        expires_in=ctx.settings.access_token_ttl_seconds,
        refresh_expires_in=int((refresh_doc["expires_at"] - now).total_seconds()),
    )


async def start_session(ctx: SessionContext, user: Document) -> IssuedTokens:
    """A new token family for a user who has just proved who they are."""
    now = datetime.now(UTC)
    family = {
        "_id": uuid.uuid4().hex,
        "user_id": user["_id"],
        "created_at": now,
        "expires_at": now + timedelta(seconds=ctx.settings.refresh_token_absolute_ttl_seconds),
        "revoked_at": None,
        "revoked_reason": None,
    }
    token, doc = _new_refresh_token(ctx, family, now)

    async def store(session: AsyncClientSession) -> None:
        await repository.insert_family(ctx.db, family, session)
        await repository.insert_refresh_token(ctx.db, doc, session)

    await with_transaction(ctx.client, store, timeout_seconds=ctx.settings.transaction_timeout_seconds)
    log_event(logger, "session.started", user_id=str(user["_id"]), family_id=family["_id"])
    return _issue(ctx, user, token, doc, now)


def _family_usable(family: Document | None, now: datetime) -> bool:
    return family is not None and family["revoked_at"] is None and family["expires_at"] > now


async def rotate(ctx: SessionContext, presented: str) -> IssuedTokens:
    """Spend the presented refresh token and issue its successor in the same family."""
    now = datetime.now(UTC)
    token_hash = hash_refresh_token(ctx.settings, presented)

    async def spend_and_replace(session: AsyncClientSession) -> tuple[str, Document, Document] | None:
        spent = await repository.spend_refresh_token(ctx.db, token_hash, now, session)
        if spent is None:
            return None
        return await _successor(ctx, spent["family_id"], now, session)

    issued = await with_transaction(
        ctx.client, spend_and_replace, timeout_seconds=ctx.settings.transaction_timeout_seconds
    )
    if issued is None:
        issued = await _replay_or_reject(ctx, token_hash, now)
    token, doc, user = issued
    return _issue(ctx, user, token, doc, now)


async def _successor(
    ctx: SessionContext, family_id: str, now: datetime, session: AsyncClientSession
) -> tuple[str, Document, Document]:
    family = await repository.find_family(ctx.db, family_id, session)
    user = await users.find_by_id(ctx.db, family["user_id"]) if family else None
    if family is None or user is None or not _family_usable(family, now):
        raise InvalidRefreshToken("The session has ended; log in again.")
    token, doc = _new_refresh_token(ctx, family, now)
    await repository.insert_refresh_token(ctx.db, doc, session)
    return token, doc, user


async def _replay_or_reject(
    ctx: SessionContext, token_hash: str, now: datetime
) -> tuple[str, Document, Document]:
    """A token that could not be spent: unknown, expired, or spent before (concurrent or stolen)."""
    known = await repository.find_refresh_token(ctx.db, token_hash)
    if known is None or known["spent_at"] is None or known["expires_at"] <= now:
        raise InvalidRefreshToken("The refresh token is invalid or has expired; log in again.")
    grace = timedelta(seconds=ctx.settings.refresh_reuse_grace_seconds)
    if now - known["spent_at"] <= grace:
        # Two tabs refreshed with the same token at once: the later one gets a sibling, not a revocation.

        async def sibling(session: AsyncClientSession) -> tuple[str, Document, Document]:
            return await _successor(ctx, known["family_id"], now, session)

        return await with_transaction(
            ctx.client, sibling, timeout_seconds=ctx.settings.transaction_timeout_seconds
        )
    if await repository.revoke_family(ctx.db, known["family_id"], "refresh_token_reused", now):
        log_event(
            logger,
            "session.reuse_detected",
            logging.WARNING,
            family_id=known["family_id"],
            user_id=str(known["user_id"]),
        )
    raise RefreshTokenReused("This refresh token was already used, so the session was ended; log in again.")


async def end_session(ctx: SessionContext, presented: str) -> None:
    """Logout: revoke the presented token's family. Unknown tokens are ignored (nothing to reveal)."""
    known = await repository.find_refresh_token(ctx.db, hash_refresh_token(ctx.settings, presented))
    if known is not None and await repository.revoke_family(
        ctx.db, known["family_id"], "logout", datetime.now(UTC)
    ):
        log_event(logger, "session.ended", family_id=known["family_id"], user_id=str(known["user_id"]))
