"""Outbox events: written in the transaction that makes them true, read later by consumers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from shared.db import Document


def event(kind: str, order: Document, now: datetime, **data: Any) -> Document:
    """An event named in the past tense (OrderPlaced, OrderCancelled, OrderExpired)."""
    return {
        "_id": ObjectId(),
        "type": kind,
        "aggregate_id": order["_id"],
        "user_id": order["user_id"],
        "status": order["status"],
        "fulfilment_status": order.get("fulfilment_status"),
        "money_status": order.get("money_status"),
        "total": order["total"],  # amount and currency: every money-carrying event names its currency
        "data": data,
        "created_at": now,
        "published_at": None,
    }
