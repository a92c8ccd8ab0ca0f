"""Every MongoDB query on login failure counters (one document per account or client key)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument

from shared.db import Database, Document


async def count_attempt(db: Database, key: str, now: datetime, *, window: timedelta) -> int:
    """Count one attempt as a failure, atomically, and return the count including it.

    The counter lives until `window` after the last counted attempt; a counter whose window has
    closed starts again at 1.
    """
    window_open = {"$gt": ["$expires_at", now]}
    pipeline: list[Document] = [
        {
            "$set": {
                "count": {"$cond": [window_open, {"$add": ["$count", 1]}, 1]},
                "expires_at": now + window,
            }
        }
    ]
    doc = await db.login_failures.find_one_and_update(
        {"_id": key}, pipeline, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert doc is not None  # upsert with AFTER always returns the document
    count: int = doc["count"]
    return count


async def uncount_attempt(db: Database, key: str) -> None:
    """Take back one counted attempt (it was refused unchecked, or it succeeded)."""
    await db.login_failures.update_one({"_id": key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})


async def active_counts(db: Database, keys: list[str], now: datetime) -> dict[str, int]:
    cursor = db.login_failures.find({"_id": {"$in": keys}, "expires_at": {"$gt": now}}, {"count": 1})
    return {doc["_id"]: doc["count"] async for doc in cursor}


async def clear(db: Database, key: str) -> None:
    await db.login_failures.delete_one({"_id": key})
