"""Every MongoDB query on login failure counters (one document per account or IP key)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument

from shared.db import Database, Document


async def record_failure(
    db: Database, key: str, now: datetime, *, window: timedelta, lock_after: int, lock_for: timedelta
) -> Document:
    """Count one failure atomically: a new window opens when the last one has closed, and reaching
    `lock_after` keeps the counter (and so the lock) alive for at least `lock_for`."""
    window_open = {"$gt": ["$expires_at", now]}
    pipeline: list[Document] = [
        {
            "$set": {
                "count": {"$cond": [window_open, {"$add": ["$count", 1]}, 1]},
                "expires_at": {"$cond": [window_open, "$expires_at", now + window]},
            }
        },
        {
            "$set": {
                "expires_at": {
                    "$cond": [
                        {"$gte": ["$count", lock_after]},
                        {"$max": ["$expires_at", now + lock_for]},
                        "$expires_at",
                    ]
                }
            }
        },
    ]
    doc = await db.login_failures.find_one_and_update(
        {"_id": key}, pipeline, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert doc is not None  # upsert with AFTER always returns the document
    return doc


async def active_counters(db: Database, keys: list[str], now: datetime) -> dict[str, Document]:
    cursor = db.login_failures.find({"_id": {"$in": keys}, "expires_at": {"$gt": now}})
    return {doc["_id"]: doc async for doc in cursor}


async def clear(db: Database, key: str) -> None:
    await db.login_failures.delete_one({"_id": key})
