"""Every MongoDB query on orders, idempotency keys and the outbox."""

from __future__ import annotations

import contextlib
from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from shared.contracts.orders import PENDING_PAYMENT, transition_pipeline
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
    guard: Document,
    changes: Document,
    at: datetime,
    by: str,
    reason: str | None = None,
    session: AsyncClientSession | None = None,
) -> Document | None:
    """Change an order's statuses in one update (status recomputed, history appended) if it matches
    `guard`, the allowed previous state; None if it does not (someone else won)."""
    return await db.orders.find_one_and_update(
        guard,
        transition_pipeline(changes, at, by, reason),
        session=session,
        return_document=ReturnDocument.AFTER,
    )


async def unsplit_orders(db: Database, limit: int) -> list[Document]:
    """Orders stored before fulfilment and money statuses existed (the start-up migration's batch)."""
    cursor = db.orders.find({"fulfilment_status": {"$exists": False}}, {"status": 1, "history.status": 1})
    return await cursor.limit(limit).to_list()


async def split_statuses(db: Database, order_id: ObjectId, changes: Document) -> bool:
    """Give one order its two statuses, unless something gave them already (idempotent)."""
    result = await db.orders.update_one(
        {"_id": order_id, "fulfilment_status": {"$exists": False}}, {"$set": changes}
    )
    return result.modified_count == 1


async def list_orders(db: Database, query: Document, limit: int) -> list[Document]:
    return await db.orders.find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit).to_list()


async def overdue_order_ids(db: Database, now: datetime, limit: int) -> list[ObjectId]:
    cursor = db.orders.find({"status": PENDING_PAYMENT, "expires_at": {"$lte": now}}, {"_id": 1})
    return [doc["_id"] async for doc in cursor.sort("expires_at", 1).limit(limit)]


async def ensure_checkout_guard(db: Database, user_id: str, now: datetime) -> None:
    """Create the customer's checkout guard document if it is missing (outside any transaction).

    Created apart, when a checkout found none, because an upsert inside two racing transactions can
    fail with a duplicate key, which is not retried; an update of an existing document is a plain,
    retried write conflict.
    """
    with contextlib.suppress(DuplicateKeyError):  # a concurrent checkout of the customer created it
        await db.checkout_guards.update_one(
            {"_id": user_id}, {"$setOnInsert": {"checkouts": 0, "created_at": now}}, upsert=True
        )


async def bump_checkout_guard(db: Database, user_id: str, now: datetime, session: AsyncClientSession) -> bool:
    """Write the customer's guard document in the checkout transaction: two checkouts of one customer
    then conflict on it, so one of them retries and sees what the other committed. False when the
    customer has no guard yet (ensure_checkout_guard creates it)."""
    result = await db.checkout_guards.update_one(
        {"_id": user_id}, {"$inc": {"checkouts": 1}, "$set": {"last_checkout_at": now}}, session=session
    )
    return result.matched_count == 1


async def open_orders_of(
    db: Database, user_id: str, at_most: int, session: AsyncClientSession
) -> list[Document]:
    """Up to `at_most` of the customer's unpaid orders, with what each line holds."""
    cursor = db.orders.find(
        {"user_id": user_id, "status": PENDING_PAYMENT},
        {"items.product_id": 1, "items.quantity": 1},
        session=session,
    )
    return await cursor.limit(at_most).to_list()


async def insert_idempotency_key(db: Database, record: Document, session: AsyncClientSession) -> None:
    """Claim (user, key); the unique index raises DuplicateKeyError if it was claimed before."""
    await db.idempotency_keys.insert_one(record, session=session)


async def find_idempotency_key(db: Database, user_id: str, key: str) -> Document | None:
    return await db.idempotency_keys.find_one({"user_id": user_id, "key": key})


async def insert_event(db: Database, event: Document, session: AsyncClientSession) -> None:
    await db.outbox.insert_one(event, session=session)
