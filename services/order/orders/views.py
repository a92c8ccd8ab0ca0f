"""Order documents as clients see them."""

from __future__ import annotations

from services.order.orders.schemas import HistoryEntry, Order, OrderLine
from shared.contracts.orders import OrderStatus, split_of
from shared.db import Document
from shared.money import MoneyOut


def to_order(doc: Document) -> Order:
    status = OrderStatus(doc["status"])
    fulfilment, money = split_of(doc)  # also for an order stored before the two statuses existed
    return Order(
        id=str(doc["_id"]),
        user_id=doc["user_id"],
        status=status,
        fulfilment_status=fulfilment,
        money_status=money,
        items=[
            OrderLine(
                product_id=str(line["product_id"]),
                sku=line["sku"],
                name=line["name"],
                quantity=line["quantity"],
                unit_price=MoneyOut(**line["unit_price"]),
                line_total=MoneyOut(**line["line_total"]),
            )
            for line in doc["items"]
        ],
        total=MoneyOut(**doc["total"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        expires_at=doc["expires_at"] if status is OrderStatus.PENDING_PAYMENT else None,
        history=[HistoryEntry(**entry) for entry in doc["history"]],
    )
