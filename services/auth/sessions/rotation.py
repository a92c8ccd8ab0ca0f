"""Refresh-token rotation: each token is spent once, for exactly one successor.

The successor of a token is not random but derived from it (`service.successor_of`), and the spend
records which successor it produced, in the same transaction that stores it:

- Concurrent refreshes with one unspent token all compute the same successor; one of them spends
  the token and stores it, the others find it spent and are answered as below. However many
  arrive, the family gains one token.
- A spent token presented again within REFRESH_REUSE_GRACE_SECONDS (two tabs refreshing at once)
  gets the successor it already produced, with a fresh access token, while that successor is
  unspent; once the successor has been spent too, a refusal that leaves the family alone. Never a
  token of its own, so a spent token cannot mint sessions.
- Presented after the grace interval, it means two parties hold the family (RFC 9700 §4.14): the
  whole family is revoked.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from services.auth.sessions import repository
from services.auth.sessions.errors import InvalidRefreshToken, RefreshTokenReused, RefreshTokenSuperseded
from services.auth.sessions.service import (
    IssuedTokens,
    SessionContext,
    family_usable,
    hash_refresh_token,
    issue_tokens,
    refresh_token_document,
    successor_of,
)
from services.auth.users import repository as users
from shared.db import Document
from shared.logging import log_event

logger = logging.getLogger("auth.sessions")


async def rotate(ctx: SessionContext, presented: str) -> IssuedTokens:
    """Spend the presented refresh token for its one successor, or hand out that successor again."""
    now = datetime.now(UTC)
    token_hash = hash_refresh_token(ctx.settings, presented)
    successor = successor_of(ctx.settings, presented)
    successor_hash = hash_refresh_token(ctx.settings, successor)

    async def spend_and_replace(session: AsyncClientSession) -> Document | None:
        spent = await repository.spend_refresh_token(ctx.db, token_hash, successor_hash, now, session)
        if spent is None:
            return None
        family = await repository.find_family(ctx.db, spent["family_id"], session)
        if family is None or not family_usable(family, now):
            raise InvalidRefreshToken("The session has ended; log in again.")
        doc = refresh_token_document(ctx.settings, successor_hash, family, now)
        await repository.insert_refresh_token(ctx.db, doc, session)
        return doc

    stored = await ctx.transaction(spend_and_replace)
    if stored is None:
        stored = await _successor_again_or_reject(ctx, token_hash, successor_hash, now)
    user = await users.find_by_id(ctx.db, stored["user_id"])
    if user is None:
        raise InvalidRefreshToken("The account no longer exists.")
    return issue_tokens(ctx, user, successor, stored, now)


async def _successor_again_or_reject(
    ctx: SessionContext, token_hash: str, successor_hash: str, now: datetime
) -> Document:
    """A token that could not be spent: unknown, expired, or spent before (another tab, or a thief)."""
    known = await repository.find_refresh_token(ctx.db, token_hash)
    if known is None or known["spent_at"] is None or known["expires_at"] <= now:
        raise InvalidRefreshToken("The refresh token is invalid or has expired; log in again.")
    grace = timedelta(seconds=ctx.settings.refresh_reuse_grace_seconds)
    if now - known["spent_at"] > grace:
        await _revoke_for_reuse(ctx, known, now)
        raise RefreshTokenReused(
            "This refresh token was already used, so the session was ended; log in again."
        )
    family = await repository.find_family(ctx.db, known["family_id"])
    # Tokens spent before successors were derived recorded none: they get a refusal, not a sibling.
    stored = (
        await repository.find_refresh_token(ctx.db, successor_hash)
        if known.get("successor_id") == successor_hash
        else None
    )
    if stored is None or family is None or not family_usable(family, now):
        raise InvalidRefreshToken("The session has ended; log in again.")
    if stored["spent_at"] is not None or stored["expires_at"] <= now:
        raise RefreshTokenSuperseded(
            "This refresh token was already exchanged, and so was its successor; use the newest one."
        )
    return stored


async def _revoke_for_reuse(ctx: SessionContext, known: Document, now: datetime) -> None:
    if await repository.revoke_family(ctx.db, known["family_id"], "refresh_token_reused", now):
        log_event(
            logger,
            "session.reuse_detected",
            logging.WARNING,
            family_id=known["family_id"],
            user_id=str(known["user_id"]),
        )
