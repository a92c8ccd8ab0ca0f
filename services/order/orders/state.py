"""The order life cycle: two state machines, fulfilment and money, and the public status derived
from them (shared/order_states.py, which the payment service uses too).

Fulfilment: placed -> paid (a payment settles the order) -> shipped -> delivered (an admin's steps);
placed -> cancelled | expired (the stock goes back). Money: unpaid -> paid -> partially_refunded ->
refunded (payments and refunds, in the payment service). Every transition is an update whose filter
requires the allowed previous state, so two racing transitions can never both win.
"""

from __future__ import annotations

from enum import StrEnum

from shared.order_states import FulfilmentStatus, MoneyStatus


class OrderStatus(StrEnum):
    """The status existing clients read, derived from the two below (see shared/order_states.py)."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


# The steps an admin takes by hand, each from exactly one previous fulfilment status.
FULFILMENT_STEPS: dict[FulfilmentStatus, FulfilmentStatus] = {
    FulfilmentStatus.SHIPPED: FulfilmentStatus.PAID,
    FulfilmentStatus.DELIVERED: FulfilmentStatus.SHIPPED,
}
# An order ships only while the shop holds (some of) its money: a fully refunded order does not.
# Delivery records what happened to a shipped parcel, whatever was refunded since.
SHIPPABLE_MONEY = (MoneyStatus.PAID, MoneyStatus.PARTIALLY_REFUNDED)

__all__ = ["FULFILMENT_STEPS", "SHIPPABLE_MONEY", "FulfilmentStatus", "MoneyStatus", "OrderStatus"]
