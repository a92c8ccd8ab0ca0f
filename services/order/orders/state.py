"""The order life cycle as an explicit state machine.

Every transition is applied by an update whose filter requires one of the allowed previous
states, so two racing transitions can never both win.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.EXPIRED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.PARTIALLY_REFUNDED: frozenset({OrderStatus.REFUNDED}),
}
# The steps an admin takes by hand; payment and refunds move the others.
FULFILMENT = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})
# States in which the order's units are back in stock (or were never taken).
RESTOCKED_ON_ENTRY = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED})


def can_move(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def predecessors(target: OrderStatus) -> list[str]:
    """The states from which `target` may be entered: the guard of the transition's update."""
    return sorted(state.value for state, targets in TRANSITIONS.items() if target in targets)
