"""An order's two statuses, kept apart, and the one `status` that existing clients read.

- `fulfilment_status`: placed -> paid -> shipped -> delivered, or placed -> cancelled | expired.
  The order service moves it (checkout, cancel, expiry, an admin's fulfilment steps); the payment
  service moves placed -> paid when a payment settles the order.
- `money_status`: unpaid -> paid -> partially_refunded -> refunded (or paid -> refunded). The
  payment service moves it, when a payment settles the order and when a refund is booked.

So a partly refunded order can still be shipped, and a delivered one can be partly refunded: neither
field overwrites the other. Both services write orders (DESIGN's designed exception), so both use
this module: every change goes through `transition_pipeline`, one atomic update that sets the fields,
recomputes `status` from them and appends the history entry.

`status`, the field existing clients read (and that listings filter on), is derived from the two:

| fulfilment_status          | money_status              | status                            |
|----------------------------|---------------------------|-----------------------------------|
| placed                     | unpaid                    | pending_payment                   |
| cancelled, expired         | unpaid                    | cancelled, expired                |
| paid, shipped, delivered   | refunded                  | refunded (all the money is back)  |
| paid                       | partially_refunded        | partially_refunded (not shipped)  |
| paid, shipped, delivered   | paid, partially_refunded  | the fulfilment status             |

(the first matching row wins).

Orders stored before the split carry `status` only: `split_of` derives both statuses from it (and
from the history, for a refunded order that had shipped), the order service migrates them at
start-up (idempotently), and every reader falls back to it, so an order is never misread meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

Document = dict[str, Any]


class FulfilmentStatus(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class MoneyStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


# Fulfilment states in which the order's units are sold (not given back by a closing).
SOLD = (FulfilmentStatus.PAID, FulfilmentStatus.SHIPPED, FulfilmentStatus.DELIVERED)
CLOSED = (FulfilmentStatus.CANCELLED, FulfilmentStatus.EXPIRED)
# Money states in which money can still go back.
REFUNDABLE_MONEY = (MoneyStatus.PAID, MoneyStatus.PARTIALLY_REFUNDED)
# The public status of an order that waits for its payment: what the reaper, fair stock and payment
# attempts select on (exactly placed + unpaid, in new and legacy orders alike).
PENDING_PAYMENT = "pending_payment"


def public_status(fulfilment: str, money: str) -> str:
    """The `status` existing clients read (table in the module docstring)."""
    if fulfilment == FulfilmentStatus.PLACED:
        return PENDING_PAYMENT
    if fulfilment in CLOSED:
        return fulfilment
    if money == MoneyStatus.REFUNDED:
        return MoneyStatus.REFUNDED.value
    if fulfilment == FulfilmentStatus.PAID and money == MoneyStatus.PARTIALLY_REFUNDED:
        return MoneyStatus.PARTIALLY_REFUNDED.value
    return str(fulfilment)


# The same rule as an aggregation expression, for update pipelines.
STATUS_EXPRESSION: Document = {
    "$switch": {
        "branches": [
            {"case": {"$eq": ["$fulfilment_status", "placed"]}, "then": PENDING_PAYMENT},
            {
                "case": {"$in": ["$fulfilment_status", [s.value for s in CLOSED]]},
                "then": "$fulfilment_status",
            },
            {"case": {"$eq": ["$money_status", "refunded"]}, "then": "refunded"},
            {
                "case": {
                    "$and": [
                        {"$eq": ["$fulfilment_status", "paid"]},
                        {"$eq": ["$money_status", "partially_refunded"]},
                    ]
                },
                "then": "partially_refunded",
            },
        ],
        "default": "$fulfilment_status",
    }
}

# What each status of an order stored before the split meant for the two.
_LEGACY: dict[str, tuple[FulfilmentStatus, MoneyStatus]] = {
    "pending_payment": (FulfilmentStatus.PLACED, MoneyStatus.UNPAID),
    "paid": (FulfilmentStatus.PAID, MoneyStatus.PAID),
    "shipped": (FulfilmentStatus.SHIPPED, MoneyStatus.PAID),
    "delivered": (FulfilmentStatus.DELIVERED, MoneyStatus.PAID),
    "cancelled": (FulfilmentStatus.CANCELLED, MoneyStatus.UNPAID),
    "expired": (FulfilmentStatus.EXPIRED, MoneyStatus.UNPAID),
    "partially_refunded": (FulfilmentStatus.PAID, MoneyStatus.PARTIALLY_REFUNDED),
    "refunded": (FulfilmentStatus.PAID, MoneyStatus.REFUNDED),
}


def split_of(order: Mapping[str, Any]) -> tuple[FulfilmentStatus, MoneyStatus]:
    """Both statuses of an order, whether it was stored with them or before them."""
    if "fulfilment_status" in order and "money_status" in order:
        return FulfilmentStatus(order["fulfilment_status"]), MoneyStatus(order["money_status"])
    fulfilment, money = _LEGACY.get(order.get("status", ""), (FulfilmentStatus.PLACED, MoneyStatus.UNPAID))
    if money in (MoneyStatus.PARTIALLY_REFUNDED, MoneyStatus.REFUNDED):
        # A refund used to overwrite the status: the history still says how far the order had gone.
        steps = [entry.get("status") for entry in order.get("history", [])]
        for step in (FulfilmentStatus.DELIVERED, FulfilmentStatus.SHIPPED):
            if step.value in steps:
                fulfilment = step
                break
    return fulfilment, money


def migration_set(order: Mapping[str, Any]) -> Document | None:
    """The $set that gives an order stored before the split its two statuses; None if it has them."""
    if "fulfilment_status" in order and "money_status" in order:
        return None
    fulfilment, money = split_of(order)
    return {
        "fulfilment_status": fulfilment.value,
        "money_status": money.value,
        "status": public_status(fulfilment, money),
    }


def history_entry(fulfilment: str, money: str, at: datetime, by: str, reason: str | None = None) -> Document:
    return {
        "status": public_status(fulfilment, money),
        "fulfilment_status": str(fulfilment),
        "money_status": str(money),
        "at": at,
        "by": by,
        "reason": reason,
    }


def transition_pipeline(
    changes: Mapping[str, Any], at: datetime, by: str, reason: str | None
) -> list[Document]:
    """One update that sets `changes` (literally), recomputes `status` and appends the history entry.

    Run with a filter that guards the previous state: the whole change is then one atomic write.
    """
    entry = {
        "status": "$status",
        "fulfilment_status": "$fulfilment_status",
        "money_status": "$money_status",
        "at": {"$literal": at},
        "by": {"$literal": by},
        "reason": {"$literal": reason},
    }
    return [
        {"$set": {name: {"$literal": value} for name, value in {**changes, "updated_at": at}.items()}},
        {"$set": {"status": STATUS_EXPRESSION}},
        {"$set": {"history": {"$concatArrays": [{"$ifNull": ["$history", []]}, [entry]]}}},
    ]
