"""The order service's own part of the order life cycle.

The statuses, the transition table and the rules both services follow are the order contract
(`shared/contracts/orders.py`). What only the order service does is here: the guards of the
transitions it makes, each a filter that requires an allowed previous state, so two racing
transitions can never both win.
"""

from __future__ import annotations

from bson import ObjectId

from shared.contracts.orders import (
    PENDING_PAYMENT,
    SHIPPABLE_MONEY,
    FulfilmentStatus,
    fulfilment_before,
)
from shared.db import Document

# The fulfilment steps an admin takes by hand.
ADMIN_STEPS = (FulfilmentStatus.SHIPPED, FulfilmentStatus.DELIVERED)


def step_guard(order_id: ObjectId, step: FulfilmentStatus) -> Document:
    """An admin's step: from the status before it in the table; shipping also needs money held."""
    assert step in ADMIN_STEPS
    guard: Document = {
        "_id": order_id,
        "fulfilment_status": {"$in": [status.value for status in fulfilment_before(step)]},
    }
    if step is FulfilmentStatus.SHIPPED:
        guard["money_status"] = {"$in": [money.value for money in SHIPPABLE_MONEY]}
    return guard


def close_guard(order_id: ObjectId, extra: Document | None = None) -> Document:
    """Cancel or expiry: only an order still waiting for its payment (placed and unpaid; the public
    status says so for orders stored before the two statuses too)."""
    return {"_id": order_id, "status": PENDING_PAYMENT, **(extra or {})}
