"""Every MongoDB query on login failure counters (one document per account or client key)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared.db import Database, Document

# Update-or-insert rounds of one counter that may race with its creation (see count_attempt).
UPSERT_TRIES = 3


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
    for _ in range(UPSERT_TRIES):
        doc = await db.login_failures.find_one_and_update(
            {"_id": key}, pipeline, return_document=ReturnDocument.AFTER
        )
        if doc is not None:
            count: int = doc["count"]
            return count
        try:
            await db.login_failures.insert_one({"_id": key, "count": 1, "expires_at": now + window})
        except DuplicateKeyError:
            continue  # a concurrent first attempt created it: count on it
        return 1
    # No upsert: a burst of first attempts on one key would race to insert its counter, and the
    # embedded server answers a losing upsert with no document although it applied it (so a retry
    # would count twice). An update, then an insert that only one attempt can win, counts exactly.
    raise RuntimeError(f"login failure counter {key} could not be counted")


async def uncount_attempt(db: Database, key: str) -> None:
    """Take back one counted attempt (it was refused unchecked, or it succeeded)."""
    await db.login_failures.update_one({"_id": key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})


async def active_counts(db: Database, keys: list[str], now: datetime) -> dict[str, int]:
    cursor = db.login_failures.find({"_id": {"$in": keys}, "expires_at": {"$gt": now}}, {"count": 1})
    return {doc["_id"]: doc["count"] async for doc in cursor}


async def clear(db: Database, key: str) -> None:
    await db.login_failures.delete_one({"_id": key})
