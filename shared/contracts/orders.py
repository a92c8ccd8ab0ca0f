"""The order document's contract: what the order service and the payment service agree on.

Orders belong to the order service, which creates them at checkout and moves them through
cancellation, expiry and fulfilment. The payment service writes them too, at exactly two points:
when a payment pays an order, and when a refund of that payment is booked (the order's money status,
and the units of its lines returned). Both services import this module and nothing else of each
other, so the statuses, the rules for moving between them, the history entry, the line fields a
refund touches and the order's outbox events are written down once. It holds data and pure
functions only: no database access, no I/O (docs/architecture.md describes the crossings).

Statuses
--------
An order has two statuses, moved apart, and a third, `status`, derived from them for the clients
that read only one:

- `fulfilment_status`: placed -> paid -> shipped -> delivered, or placed -> cancelled | expired.
- `money_status`: unpaid -> paid -> partially_refunded (any number of times) -> refunded, or
  paid -> refunded.

So a partly refunded order can still ship and a delivered one can still be refunded: neither field
overwrites the other. `FULFILMENT_TRANSITIONS` and `MONEY_TRANSITIONS` list every allowed move.
Two more rules bind one field to the other: an order ships only while the shop holds some of its
money (`SHIPPABLE_MONEY`), and its money moves back only from `REFUNDABLE_FULFILMENT` (below).

| fulfilment_status          | money_status              | status                            |
|----------------------------|---------------------------|-----------------------------------|
| placed                     | unpaid                    | pending_payment                   |
| cancelled, expired         | unpaid                    | cancelled, expired                |
| paid, shipped, delivered   | refunded                  | refunded (all the money is back)  |
| paid                       | partially_refunded        | partially_refunded (not shipped)  |
| paid, shipped, delivered   | paid, partially_refunded  | the fulfilment status             |

(the first matching row wins). Every change is one update (`transition_pipeline`) whose filter
requires an allowed previous state: it sets the fields, recomputes `status` and appends a history
entry, atomically, so two racing transitions can never both win.

Orders stored before the two statuses existed carry `status` only: `split_of` derives both from it
(and from the history, for a refunded order that had shipped); the order service migrates them at
start-up, and every reader falls back to `split_of` meanwhile.

Refunds: from which states
--------------------------
Money can be refunded from any payment that captured some. A refund moves the *order* (its money
status, and units back to stock) only while that payment holds the order's sale (`holds_sale`): the
order names it in `payment_id` and its fulfilment is paid, shipped or delivered. A delivered order
being returned is normal commerce, so delivered is included. A cancelled or expired order gave its
stock back when it closed: a payment that arrived for it afterwards (or a second payment of an order
another payment had paid) is refunded in money only, and the order is left as it is.

Lines
-----
Each line of `items` carries `product_id`, `sku`, `name`, `quantity`, `unit_price` and `line_total`
(written at checkout, never changed) and two counters that refunds move: `restocked_quantity` (units
returned to stock by booked refunds) and `restock_pending` (units held by refunds the provider has not
confirmed yet). A refund may return at most `restockable(line)` units of a line.

Outbox events
-------------
The order service writes `OrderPlaced`, `OrderCancelled` and `OrderExpired` to its `outbox` in the
transaction that makes them true (`order_event`). The payment service reads the two closing ones to
withdraw the pending provider payments of closed orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId

from shared.db import Document
from shared.outbox import outbox_event


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


class OrderStatus(StrEnum):
    """The status existing clients read (and listings filter on), derived from the two above."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


# Every allowed move of each status (a status missing from a set cannot follow it).
FULFILMENT_TRANSITIONS: Mapping[FulfilmentStatus, frozenset[FulfilmentStatus]] = {
    FulfilmentStatus.PLACED: frozenset(
        {FulfilmentStatus.PAID, FulfilmentStatus.CANCELLED, FulfilmentStatus.EXPIRED}
    ),
    FulfilmentStatus.PAID: frozenset({FulfilmentStatus.SHIPPED}),
    FulfilmentStatus.SHIPPED: frozenset({FulfilmentStatus.DELIVERED}),
    FulfilmentStatus.DELIVERED: frozenset(),
    FulfilmentStatus.CANCELLED: frozenset(),
    FulfilmentStatus.EXPIRED: frozenset(),
}
MONEY_TRANSITIONS: Mapping[MoneyStatus, frozenset[MoneyStatus]] = {
    MoneyStatus.UNPAID: frozenset({MoneyStatus.PAID}),
    MoneyStatus.PAID: frozenset({MoneyStatus.PARTIALLY_REFUNDED, MoneyStatus.REFUNDED}),
    MoneyStatus.PARTIALLY_REFUNDED: frozenset({MoneyStatus.PARTIALLY_REFUNDED, MoneyStatus.REFUNDED}),
    MoneyStatus.REFUNDED: frozenset(),
}

# Fulfilment states in which the order's units are sold (not given back by a closing): a refund of
# the payment holding the sale may move the order's money and return units from any of them.
SOLD = (FulfilmentStatus.PAID, FulfilmentStatus.SHIPPED, FulfilmentStatus.DELIVERED)
REFUNDABLE_FULFILMENT = SOLD
CLOSED = (FulfilmentStatus.CANCELLED, FulfilmentStatus.EXPIRED)
# Money states from which money can still go back.
REFUNDABLE_MONEY = (MoneyStatus.PAID, MoneyStatus.PARTIALLY_REFUNDED)
# An order ships only while the shop holds (some of) its money: a fully refunded order does not.
# Delivery records what happened to a shipped parcel, whatever was refunded since.
SHIPPABLE_MONEY = REFUNDABLE_MONEY
# The public status of an order that waits for its payment: exactly placed + unpaid, in orders
# stored with the two statuses and before them alike. What checkout creates, what a payment pays,
# what cancel and the reaper close, and what fair stock counts.
PENDING_PAYMENT = OrderStatus.PENDING_PAYMENT.value

# The line counters refunds move (see the module docstring).
RESTOCKED_QUANTITY = "restocked_quantity"
RESTOCK_PENDING = "restock_pending"

# The order's outbox events.
ORDER_PLACED = "OrderPlaced"
CLOSING_EVENTS: Mapping[FulfilmentStatus, str] = {
    FulfilmentStatus.CANCELLED: "OrderCancelled",
    FulfilmentStatus.EXPIRED: "OrderExpired",
}


def fulfilment_allows(current: FulfilmentStatus, target: FulfilmentStatus) -> bool:
    return target in FULFILMENT_TRANSITIONS[current]


def money_allows(current: MoneyStatus, target: MoneyStatus) -> bool:
    return target in MONEY_TRANSITIONS[current]


def fulfilment_before(target: FulfilmentStatus) -> list[FulfilmentStatus]:
    """The fulfilment statuses an order may move to `target` from (a transition's guard)."""
    return [status for status, targets in FULFILMENT_TRANSITIONS.items() if target in targets]


def public_status(fulfilment: str, money: str) -> str:
    """The `status` existing clients read (table in the module docstring)."""
    if fulfilment == FulfilmentStatus.PLACED:
        return PENDING_PAYMENT
    if fulfilment in CLOSED:
        return fulfilment
    if money == MoneyStatus.REFUNDED:
        return OrderStatus.REFUNDED.value
    if fulfilment == FulfilmentStatus.PAID and money == MoneyStatus.PARTIALLY_REFUNDED:
        return OrderStatus.PARTIALLY_REFUNDED.value
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
    """One entry of the order's `history`: both statuses after the change, who and when."""
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


def paid_by(payment_id: ObjectId) -> Document:
    """The changes that make an order paid by this payment (which then holds its sale)."""
    return {
        "fulfilment_status": FulfilmentStatus.PAID.value,
        "money_status": MoneyStatus.PAID.value,
        "payment_id": payment_id,
    }


def holds_sale(order: Mapping[str, Any] | None, payment_id: ObjectId) -> bool:
    """Whether the order's units are sold through this payment and not given back by a closing: the
    condition for a refund of the payment to move the order's money status and return its units."""
    return (
        order is not None
        and order.get("payment_id") == payment_id
        and split_of(order)[0] in REFUNDABLE_FULFILMENT
    )


def refund_guard(order_id: ObjectId, payment_id: ObjectId) -> Document:
    """The filter of a refund's change to the order's money status: `holds_sale`, as a query."""
    return {
        "_id": order_id,
        "payment_id": payment_id,
        "fulfilment_status": {"$in": [state.value for state in REFUNDABLE_FULFILMENT]},
        "money_status": {"$in": [state.value for state in REFUNDABLE_MONEY]},
    }


def money_after_refund(payment_fully_refunded: bool) -> MoneyStatus:
    """The order's money status once a refund of the payment holding its sale is booked."""
    return MoneyStatus.REFUNDED if payment_fully_refunded else MoneyStatus.PARTIALLY_REFUNDED


def restockable(line: Mapping[str, Any]) -> int:
    """Units of an order line a new refund may still return: sold, minus returned, minus held."""
    return int(line["quantity"] - line.get(RESTOCKED_QUANTITY, 0) - line.get(RESTOCK_PENDING, 0))


def order_event(kind: str, order: Mapping[str, Any], now: datetime, **data: Any) -> Document:
    """An order outbox event: the order's id, owner, statuses and total (amount and currency)."""
    return outbox_event(
        kind,
        now,
        aggregate_id=order["_id"],
        user_id=order["user_id"],
        status=order["status"],
        fulfilment_status=order.get("fulfilment_status"),
        money_status=order.get("money_status"),
        total=order["total"],
        data=data,
    )
