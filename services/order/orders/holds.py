"""Fair stock: what one customer's unpaid orders may hold at once.

An unpaid (`pending_payment`) order holds its units until it is paid, cancelled or expires. Two
limits keep one customer from holding a product out of stock for everyone else:
`ORDER_MAX_OPEN_PER_CUSTOMER` unpaid orders, and `ORDER_MAX_UNITS_PER_PRODUCT` units of one product
across them. Paid, cancelled and expired orders do not count, so paying or cancelling frees the
allowance at once.

The check runs inside the checkout transaction, on its snapshot. Snapshot isolation alone would let
two concurrent checkouts of the same customer both read "4 open orders" and both insert a fifth
(write skew: they write different documents). So each checkout first writes the customer's guard
document: two transactions writing one document conflict, the loser is retried from the start on a
new snapshot that includes the winner's order, and the limits hold under any concurrency. Checkouts
of different customers never touch the same guard.
"""

from __future__ import annotations

from collections import Counter

from pymongo.asynchronous.client_session import AsyncClientSession

from services.order.orders import repository
from services.order.orders.errors import HeldUnitsLimit, OpenOrdersLimit
from services.order.settings import OrderSettings
from shared.db import Database, Document


async def enforce_limits(
    db: Database, settings: OrderSettings, user_id: str, lines: list[Document], session: AsyncClientSession
) -> None:
    """Refuse (409) an order that would pass either limit; call after the guard write, in the transaction."""
    open_limit = settings.order_max_open_per_customer
    # One read for both limits: up to `open_limit` unpaid orders; fewer means these are all of them.
    open_orders = await repository.open_orders_of(db, user_id, open_limit, session)
    if len(open_orders) >= open_limit:
        raise OpenOrdersLimit(
            f"You have {len(open_orders)} unpaid orders, the most one customer may have open; "
            "pay or cancel one to order again.",
            limit=open_limit,
            held=len(open_orders),
        )
    units_limit = settings.order_max_units_per_product
    held: Counter[object] = Counter()
    for order in open_orders:
        for line in order["items"]:
            held[line["product_id"]] += line["quantity"]
    over = [
        {
            "product_id": str(line["product_id"]),
            "sku": line["sku"],
            "held": held[line["product_id"]],
            "requested": line["quantity"],
        }
        for line in lines
        if held[line["product_id"]] + line["quantity"] > units_limit
    ]
    if over:
        raise HeldUnitsLimit(
            f"Unpaid orders may hold at most {units_limit} units of one product per customer; "
            "pay or cancel an order, or order fewer.",
            limit=units_limit,
            lines=over,
        )
