"""The sandbox's own ledger (`sandbox_ledger`): what a real provider keeps on its side."""

from __future__ import annotations

import secrets
from datetime import datetime

from pymongo import ReturnDocument

from shared.db import Database, Document


async def open_payment(
    db: Database, ledger_id: str, payment_id: str, amount: int, currency: str, now: datetime
) -> str:
    """Record a payment once per ledger id (the same provider idempotency key names the same one);
    returns the ticket of its payment page, drawn when the payment was first recorded."""
    entry = await db.sandbox_ledger.find_one_and_update(
        {"_id": ledger_id},
        {
            "$setOnInsert": {
                "payment_id": payment_id,
                "amount": amount,
                "currency": currency,
                "status": "pending",
                "created_at": now,
                # Whoever holds the page's address may settle the payment there, as with a real
                # provider's checkout page: only the payment's owner is handed it.
                "page_ticket": secrets.token_urlsafe(24),
            }
        },
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    if entry is None:  # an upsert returning the document after it always finds one
        raise RuntimeError(f"sandbox ledger entry {ledger_id} vanished")
    ticket: str = entry["page_ticket"]
    return ticket


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
