"""Every MongoDB query on token families (one per login) and refresh tokens (stored hashed)."""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, Document


async def insert_family(db: Database, family: Document, session: AsyncClientSession) -> None:
    await db.token_families.insert_one(family, session=session)


async def find_family(
    db: Database, family_id: str, session: AsyncClientSession | None = None
) -> Document | None:
    return await db.token_families.find_one({"_id": family_id}, session=session)


async def revoke_family(db: Database, family_id: str, reason: str, now: datetime) -> bool:
    """Revoke once; True when this call did it."""
    result = await db.token_families.update_one(
        {"_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": now, "revoked_reason": reason}}
    )
    return result.modified_count == 1


async def insert_refresh_token(db: Database, token: Document, session: AsyncClientSession) -> None:
    await db.refresh_tokens.insert_one(token, session=session)


async def spend_refresh_token(
    db: Database, token_hash: str, successor_id: str, now: datetime, session: AsyncClientSession
) -> Document | None:
    """Mark an unspent, unexpired token spent by `successor_id`; None when it is unknown, spent or
    expired (the guard on `spent_at` lets only one of concurrent spenders win)."""
    return await db.refresh_tokens.find_one_and_update(
        {"_id": token_hash, "spent_at": None, "expires_at": {"$gt": now}},
        {"$set": {"spent_at": now, "successor_id": successor_id}},
        session=session,
        return_document=ReturnDocument.AFTER,
    )


async def find_refresh_token(db: Database, token_hash: str) -> Document | None:
    return await db.refresh_tokens.find_one({"_id": token_hash})
