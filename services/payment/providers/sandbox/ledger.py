"""The sandbox's own ledger (`sandbox_ledger`): what a real provider keeps on its side."""

from __future__ import annotations

from datetime import datetime

from shared.db import Database, Document


async def open_payment(
    db: Database, ledger_id: str, payment_id: str, amount: int, currency: str, now: datetime
) -> None:
    """Record a payment once per ledger id (the same provider idempotency key names the same one)."""
    await db.sandbox_ledger.update_one(
        {"_id": ledger_id},
        {
            "$setOnInsert": {
                "payment_id": payment_id,
                "amount": amount,
                "currency": currency,
                "status": "pending",
                "created_at": now,
            }
        },
        upsert=True,
    )


async def settle_payment(db: Database, ledger_id: str, outcome: str) -> None:
    """Only a pending payment changes: the shopper's first answer is final."""
    await db.sandbox_ledger.update_one({"_id": ledger_id, "status": "pending"}, {"$set": {"status": outcome}})


async def record_refund(db: Database, refund_id: str, of: str, amount: int, now: datetime) -> None:
    await db.sandbox_ledger.update_one(
        {"_id": refund_id},
        {"$setOnInsert": {"refund_of": of, "amount": amount, "status": "succeeded", "created_at": now}},
        upsert=True,
    )


async def entry(db: Database, ledger_id: str) -> Document | None:
    return await db.sandbox_ledger.find_one({"_id": ledger_id})
