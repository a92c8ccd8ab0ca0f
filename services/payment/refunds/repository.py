"""Every MongoDB query on refunds, and what refunds change on payments (orders and stock: orders/)."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.refunds.limits import REFUNDABLE_PAYMENT
from shared.db import Database, Document

# What a payment captured, as an expression (`captured` in limits.py, for update filters).
CAPTURED: Document = {"$ifNull": ["$captured_amount", "$amount"]}


async def reserve_amount(
    db: Database, payment_id: ObjectId, amount: int, session: AsyncClientSession
) -> Document | None:
    """Hold `amount` against the payment if refunded + held + amount stays within what was captured."""
    return await db.payments.find_one_and_update(
        {
            "_id": payment_id,
            "status": {"$in": list(REFUNDABLE_PAYMENT)},
            "$expr": {"$lte": [{"$add": ["$refunded_amount", "$refund_pending_amount", amount]}, CAPTURED]},
        },
        {"$inc": {"refund_pending_amount": amount}},
        session=session,
        return_document=ReturnDocument.AFTER,
    )


async def insert_refund(db: Database, refund: Document, session: AsyncClientSession) -> None:
    """The unique (payment, key) index raises DuplicateKeyError for a retried request."""
    await db.refunds.insert_one(refund, session=session)


async def find_refund(
    db: Database, refund_id: ObjectId, session: AsyncClientSession | None = None
) -> Document | None:
    return await db.refunds.find_one({"_id": refund_id}, session=session)


async def find_by_key(db: Database, payment_id: ObjectId, key: str) -> Document | None:
    return await db.refunds.find_one({"payment_id": payment_id, "idempotency_key": key})


async def find_by_provider_refund(
    db: Database, payment_id: ObjectId, provider_refund_id: str, session: AsyncClientSession | None = None
) -> Document | None:
    return await db.refunds.find_one(
        {"payment_id": payment_id, "provider_refund_id": provider_refund_id}, session=session
    )


async def bind_provider_refund(
    db: Database, refund_id: ObjectId, provider_refund_id: str, session: AsyncClientSession
) -> None:
    """The provider's refund id, learnt from its webhook before its synchronous answer arrived."""
    await db.refunds.update_one(
        {"_id": refund_id, "provider_refund_id": None},
        {"$set": {"provider_refund_id": provider_refund_id}},
        session=session,
    )


async def record_listing(db: Database, refund_id: ObjectId, listed: frozenset[str]) -> None:
    """The provider's refund ids listed just before this refund is sent (bKash, which neither takes an
    idempotency key nor echoes our reference): what the refund, should its answer be lost, is not."""
    await db.refunds.update_one(
        {"_id": refund_id, "provider_listed_before": None},
        {"$set": {"provider_listed_before": sorted(listed)}},
    )


async def provider_ids_owned(db: Database, payment_id: ObjectId, apart_from: ObjectId) -> frozenset[str]:
    """The provider refund ids the payment's other refunds (ours or external) are bound to."""
    cursor = db.refunds.find(
        {"payment_id": payment_id, "_id": {"$ne": apart_from}, "provider_refund_id": {"$type": "string"}},
        {"provider_refund_id": 1},
    )
    return frozenset(doc["provider_refund_id"] for doc in await cursor.to_list() if doc["provider_refund_id"])


async def serialise_claims(db: Database, payment_id: ObjectId, session: AsyncClientSession) -> None:
    """Written by every claim of a provider refund id for this payment's refunds, first: concurrent
    claims conflict here and run one after the other, so an id is never given to two refunds."""
    await db.payments.update_one({"_id": payment_id}, {"$inc": {"refund_claims": 1}}, session=session)


async def pending_since(db: Database, before: datetime, limit: int) -> list[Document]:
    """Refunds still pending that were asked for before `before` (reconciliation asks about them)."""
    cursor = db.refunds.find({"status": "pending", "created_at": {"$lte": before}})
    return await cursor.limit(limit).to_list()


async def finish(
    db: Database, refund_id: ObjectId, status: str, changes: Document, session: AsyncClientSession
) -> Document | None:
    """pending -> succeeded|failed, once."""
    return await db.refunds.find_one_and_update(
        {"_id": refund_id, "status": "pending"},
        {"$set": {"status": status, **changes}},
        session=session,
        return_document=ReturnDocument.AFTER,
    )


async def record_provider_refund(
    db: Database, refund_id: ObjectId, provider_refund_id: str, now: datetime
) -> None:
    await db.refunds.update_one(
        {"_id": refund_id}, {"$set": {"provider_refund_id": provider_refund_id, "updated_at": now}}
    )


async def book_on_payment(
    db: Database,
    payment_id: ObjectId,
    amount: int,
    succeeded: bool,
    now: datetime,
    session: AsyncClientSession,
    *,
    held: bool = True,
) -> Document | None:
    """Release the hold (`held`: a refund we reserved; not one made at the provider); on success count
    it refunded, derive the payment's status and record it."""
    refunded = amount if succeeded else 0
    pipeline: list[Document] = [
        {
            "$set": {
                "refund_pending_amount": {"$subtract": ["$refund_pending_amount", amount if held else 0]},
                "refunded_amount": {"$add": ["$refunded_amount", refunded]},
                "updated_at": now,
            }
        }
    ]
    if succeeded:
        fully = {"$gte": ["$refunded_amount", CAPTURED]}
        pipeline.append({"$set": {"status": {"$cond": [fully, "refunded", "partially_refunded"]}}})
    booked = await db.payments.find_one_and_update(
        {"_id": payment_id}, pipeline, session=session, return_document=ReturnDocument.AFTER
    )
    if booked is not None and succeeded:
        entry = {"status": booked["status"], "at": now, "source": "refund"}
        await db.payments.update_one({"_id": payment_id}, {"$push": {"history": entry}}, session=session)
    return booked


async def mark_auto_refund_due(
    db: Database, payment_id: ObjectId, now: datetime, retry_at: datetime, session: AsyncClientSession
) -> None:
    """Money captured for a closed order must all go back: due until the payment is fully refunded,
    and retried by reconciliation from `retry_at` on (settlement tries at once itself)."""
    await db.payments.update_one(
        {"_id": payment_id, "auto_refund_due_since": None},
        {"$set": {"auto_refund_due_since": now, "auto_refund_next_at": retry_at, "auto_refund_failures": 0}},
        session=session,
    )


async def postpone_auto_refund(db: Database, payment_id: ObjectId, next_at: datetime) -> None:
    """After a failed try, the reconciler tries again at `next_at` (backing off, never giving up)."""
    await db.payments.update_one(
        {"_id": payment_id, "auto_refund_due_since": {"$ne": None}},
        {"$set": {"auto_refund_next_at": next_at}, "$inc": {"auto_refund_failures": 1}},
    )


async def clear_auto_refund(db: Database, payment_id: ObjectId, session: AsyncClientSession) -> None:
    """A fully refunded payment owes nothing more."""
    await db.payments.update_one(
        {"_id": payment_id, "status": "refunded", "auto_refund_due_since": {"$ne": None}},
        {"$unset": {"auto_refund_due_since": "", "auto_refund_next_at": ""}},
        session=session,
    )


async def auto_refunds_due(db: Database, now: datetime, limit: int) -> list[Document]:
    """Payments for closed orders not yet fully refunded whose next try is due, most overdue first."""
    cursor = db.payments.find({"auto_refund_next_at": {"$lte": now}})
    return await cursor.sort("auto_refund_next_at", 1).limit(limit).to_list()


async def count_auto_refunds_due_since(db: Database, before: datetime) -> int:
    """How many payments have owed an automatic refund since before `before`."""
    return await db.payments.count_documents({"auto_refund_due_since": {"$lte": before}})


async def flag_refund(db: Database, refund_id: ObjectId, reason: str, session: AsyncClientSession) -> None:
    await db.refunds.update_one({"_id": refund_id}, {"$set": {"attention": reason}}, session=session)


async def list_for_payment(db: Database, payment_id: ObjectId, limit: int) -> list[Document]:
    """A payment's refunds, oldest first (ours and those made at the provider)."""
    return await db.refunds.find({"payment_id": payment_id}).sort("created_at", 1).limit(limit).to_list()
