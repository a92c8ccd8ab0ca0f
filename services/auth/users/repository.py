"""Every MongoDB query on users."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId

from shared.db import Database, Document


async def insert_user(db: Database, user: Document) -> ObjectId:
    """Insert a new user; the unique email index raises DuplicateKeyError for a taken email."""
    result = await db.users.insert_one(user)
    return ObjectId(result.inserted_id)


async def find_by_email(db: Database, email: str) -> Document | None:
    return await db.users.find_one({"email": email})


async def find_by_id(db: Database, user_id: ObjectId) -> Document | None:
    return await db.users.find_one({"_id": user_id})


async def replace_password_hash(db: Database, user_id: ObjectId, old: str, new: str, now: datetime) -> None:
    """Swap the hash only if it is still the one that was verified (a concurrent change wins)."""
    await db.users.update_one(
        {"_id": user_id, "password_hash": old}, {"$set": {"password_hash": new, "updated_at": now}}
    )


async def insert_if_absent(db: Database, user: Document) -> bool:
    """Create the user unless the email exists; safe when several replicas start at once."""
    result = await db.users.update_one({"email": user["email"]}, {"$setOnInsert": user}, upsert=True)
    return result.upserted_id is not None
