"""Outbox events: written in the transaction that makes them true, published later.

Every service that tells others what happened (an order placed, a payment captured, a refund
issued) inserts one of these into its own outbox collection inside the same transaction as the
change itself, so an event exists exactly when its change committed. A publisher (or a reader such
as the payment reconciler) reads them afterwards; `published_at` stays None until one sends it.
Event names are past tense (OrderPlaced, PaymentSucceeded, RefundIssued).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from shared.db import Document


def outbox_event(kind: str, now: datetime, **fields: Any) -> Document:
    """One event of type `kind` with its own fields (ids, amounts with their currency, ...)."""
    return {"_id": ObjectId(), "type": kind, **fields, "created_at": now, "published_at": None}
