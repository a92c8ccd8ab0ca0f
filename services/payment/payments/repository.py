"""Every MongoDB query on payments, the provider-event inbox and the payment outbox."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, Document


async def insert_payment(db: Database, payment: Document, session: AsyncClientSession) -> None:
    """Insert a payment; the unique (user, key) index raises DuplicateKeyError on a retried request."""
    await db.payments.insert_one(payment, session=session)


async def find_pending(
    db: Database, order_id: ObjectId, provider: str, session: AsyncClientSession
) -> Document | None:
    """The order's pending payment with this provider, if one is open (a new attempt reuses it)."""
    return await db.payments.find_one(
        {"order_id": order_id, "provider": provider, "status": "pending"}, session=session
    )


async def count_attempt(db: Database, order_id: ObjectId, now: datetime, session: AsyncClientSession) -> int:
    """Count one more provider payment for the order; returns the count including this one.

    Every attempt of an order writes this one document, so concurrent attempts conflict here and
    run one after the other: the cap and the reuse of a pending payment cannot be raced past.
    """
    counted = await db.payment_attempts.find_one_and_update(
        {"_id": order_id},
        {"$inc": {"count": 1}, "$set": {"updated_at": now}},
        upsert=True,
        session=session,
        return_document=ReturnDocument.AFTER,
    )
    assert counted is not None
    return int(counted["count"])


async def find_payment(
    db: Database,
    payment_id: ObjectId,
    *,
    user_id: str | None = None,
    session: AsyncClientSession | None = None,
) -> Document | None:
    query: Document = {"_id": payment_id}
    if user_id is not None:
        query["user_id"] = user_id
    return await db.payments.find_one(query, session=session)


async def find_by_key(db: Database, user_id: str, key: str) -> Document | None:
    return await db.payments.find_one({"user_id": user_id, "idempotency_key": key})


async def find_by_provider_payment(db: Database, provider: str, provider_payment_id: str) -> Document | None:
    return await db.payments.find_one({"provider": provider, "provider_payment_id": provider_payment_id})


async def record_created(
    db: Database, payment_id: ObjectId, created: Document, now: datetime
) -> Document | None:
    return await db.payments.find_one_and_update(
        {"_id": payment_id}, {"$set": {**created, "updated_at": now}}, return_document=ReturnDocument.AFTER
    )


async def abandon(db: Database, payment_id: ObjectId, now: datetime) -> None:
    """A pending payment whose provider creation never finished (its process died mid-call) fails, so
    it stops standing in for the order's next attempt; the shopper never saw how to pay it."""
    await db.payments.update_one(
        {"_id": payment_id, "status": "pending", "provider_payment_id": None},
        {
            "$set": {"status": "failed", "failure_reason": "abandoned", "updated_at": now},
            "$push": {"history": {"status": "failed", "at": now, "source": "abandoned"}},
        },
    )


async def transition(
    db: Database,
    payment_id: ObjectId,
    from_states: list[str],
    changes: Document,
    history_entry: Document,
    session: AsyncClientSession | None = None,
) -> Document | None:
    """A guarded status change; None if the payment is in none of `from_states`."""
    return await db.payments.find_one_and_update(
        {"_id": payment_id, "status": {"$in": from_states}},
        {"$set": changes, "$push": {"history": history_entry}},
        session=session,
        return_document=ReturnDocument.AFTER,
    )


async def due_for_reconciliation(
    db: Database, older_than: datetime, now: datetime, limit: int
) -> list[Document]:
    """Pending payments old enough to ask about, whose next check is due (never-checked ones first).

    A payment flagged for a person (a report about another payment, say) is theirs: asking the
    provider again would only repeat what was flagged, forever.
    """
    cursor = db.payments.find(
        {
            "status": "pending",
            "created_at": {"$lte": older_than},
            "next_check_at": {"$not": {"$gt": now}},
            "attention": None,
        }
    )
    return await cursor.sort("next_check_at", 1).limit(limit).to_list()


async def pending_of_orders(db: Database, order_ids: list[ObjectId], limit: int) -> list[Document]:
    """Pending payments, started at their provider, of these orders (closed ones: to withdraw)."""
    cursor = db.payments.find(
        {"order_id": {"$in": order_ids}, "status": "pending", "provider_payment_id": {"$type": "string"}}
    )
    return await cursor.limit(limit).to_list()


async def flag(
    db: Database, payment_id: ObjectId, reason: str, session: AsyncClientSession | None = None
) -> None:
    """Mark a payment for a person: `attention` keeps the first reason, `attention_reasons` every one."""
    reasons: Document = {"$ifNull": ["$attention_reasons", []]}
    await db.payments.update_one(
        {"_id": payment_id},
        [
            {
                "$set": {
                    "attention": {"$ifNull": ["$attention", {"$literal": reason}]},
                    "attention_reasons": {
                        "$cond": [
                            {"$in": [{"$literal": reason}, reasons]},
                            reasons,
                            {"$concatArrays": [reasons, [{"$literal": reason}]]},
                        ]
                    },
                }
            }
        ],
        session=session,
    )


async def postpone_check(db: Database, payment_id: ObjectId, next_check_at: datetime) -> None:
    """A payment the provider still calls pending is asked about again later, not every pass."""
    await db.payments.update_one(
        {"_id": payment_id}, {"$set": {"next_check_at": next_check_at}, "$inc": {"reconcile_attempts": 1}}
    )


async def insert_provider_event(
    db: Database, event: Document, session: AsyncClientSession | None = None
) -> None:
    """Store a provider event once; the unique (provider, event_id) index raises DuplicateKeyError."""
    await db.provider_events.insert_one(event, session=session)


async def insert_outbox(db: Database, event: Document, session: AsyncClientSession) -> None:
    await db.payment_outbox.insert_one(event, session=session)
