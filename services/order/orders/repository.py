"""Every MongoDB query on orders, idempotency keys and the outbox."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, Document


async def insert_order(db: Database, order: Document, session: AsyncClientSession) -> None:
    await db.orders.insert_one(order, session=session)


async def find_order(
    db: Database, order_id: ObjectId, *, user_id: str | None = None, session: AsyncClientSession | None = None
) -> Document | None:
    """One order; with `user_id`, only if it belongs to that user (others' orders do not exist for them)."""
    query: Document = {"_id": order_id}
    if user_id is not None:
        query["user_id"] = user_id
    return await db.orders.find_one(query, session=session)


async def transition(
    db: Database,
    order_id: ObjectId,
    from_states: list[str],
    changes: Document,
    history_entry: Document,
    session: AsyncClientSession | None = None,
    extra_filter: Document | None = None,
) -> Document | None:
    """Move an order out of one of `from_states`; None if it is in none of them (someone else won)."""
    return await db.orders.find_one_and_update(
        {"_id": order_id, "status": {"$in": from_states}, **(extra_filter or {})},
        {"$set": changes, "$push": {"history": history_entry}},
        session=session,
        return_document=ReturnDocument.AFTER,
    )


async def list_orders(db: Database, query: Document, limit: int) -> list[Document]:
    return await db.orders.find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit).to_list()


async def overdue_order_ids(db: Database, now: datetime, limit: int) -> list[ObjectId]:
    cursor = db.orders.find({"status": "pending_payment", "expires_at": {"$lte": now}}, {"_id": 1})
    return [doc["_id"] async for doc in cursor.sort("expires_at", 1).limit(limit)]


async def insert_idempotency_key(db: Database, record: Document, session: AsyncClientSession) -> None:
    """Claim (user, key); the unique index raises DuplicateKeyError if it was claimed before."""
    await db.idempotency_keys.insert_one(record, session=session)


async def find_idempotency_key(db: Database, user_id: str, key: str) -> Document | None:
    return await db.idempotency_keys.find_one({"user_id": user_id, "key": key})


async def insert_event(db: Database, event: Document, session: AsyncClientSession) -> None:
    await db.outbox.insert_one(event, session=session)
