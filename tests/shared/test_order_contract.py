"""The order contract's rules, in process (no stack): transitions, derived status, refund states,
legacy orders, line counters and the outbox event shape (shared/contracts/orders.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId

from shared.contracts.orders import (
    CLOSING_EVENTS,
    FULFILMENT_TRANSITIONS,
    MONEY_TRANSITIONS,
    REFUNDABLE_FULFILMENT,
    STATUS_EXPRESSION,
    FulfilmentStatus,
    MoneyStatus,
    OrderStatus,
    fulfilment_allows,
    fulfilment_before,
    history_entry,
    holds_sale,
    migration_set,
    money_after_refund,
    money_allows,
    order_event,
    paid_by,
    public_status,
    refund_guard,
    restockable,
    split_of,
    transition_pipeline,
)

F, M = FulfilmentStatus, MoneyStatus
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_every_status_has_a_row_in_each_table() -> None:
    assert set(FULFILMENT_TRANSITIONS) == set(FulfilmentStatus)
    assert set(MONEY_TRANSITIONS) == set(MoneyStatus)


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (F.PLACED, F.PAID, True),
        (F.PLACED, F.CANCELLED, True),
        (F.PLACED, F.EXPIRED, True),
        (F.PAID, F.SHIPPED, True),
        (F.SHIPPED, F.DELIVERED, True),
        (F.PLACED, F.SHIPPED, False),  # nothing ships unpaid
        (F.PAID, F.CANCELLED, False),  # a paid order is refunded, not cancelled
        (F.SHIPPED, F.PAID, False),
        (F.DELIVERED, F.SHIPPED, False),
        (F.CANCELLED, F.PAID, False),  # a closed order is never resurrected by a late payment
        (F.EXPIRED, F.PAID, False),
    ],
)
def test_fulfilment_moves(current: FulfilmentStatus, target: FulfilmentStatus, allowed: bool) -> None:
    assert fulfilment_allows(current, target) is allowed


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (M.UNPAID, M.PAID, True),
        (M.PAID, M.PARTIALLY_REFUNDED, True),
        (M.PAID, M.REFUNDED, True),
        (M.PARTIALLY_REFUNDED, M.PARTIALLY_REFUNDED, True),  # a second partial refund
        (M.PARTIALLY_REFUNDED, M.REFUNDED, True),
        (M.UNPAID, M.REFUNDED, False),
        (M.REFUNDED, M.PARTIALLY_REFUNDED, False),
        (M.REFUNDED, M.PAID, False),
    ],
)
def test_money_moves(current: MoneyStatus, target: MoneyStatus, allowed: bool) -> None:
    assert money_allows(current, target) is allowed


def test_guards_come_from_the_table() -> None:
    assert fulfilment_before(F.SHIPPED) == [F.PAID]
    assert fulfilment_before(F.DELIVERED) == [F.SHIPPED]
    assert fulfilment_before(F.CANCELLED) == [F.PLACED]
    assert fulfilment_before(F.PLACED) == []


def test_refunds_start_from_paid_shipped_and_delivered_only() -> None:
    """A delivered order being returned is normal commerce; a closed one gave its stock back."""
    assert set(REFUNDABLE_FULFILMENT) == {F.PAID, F.SHIPPED, F.DELIVERED}
    payment = ObjectId()
    for fulfilment in FulfilmentStatus:
        order = {"payment_id": payment, "fulfilment_status": fulfilment, "money_status": M.PAID}
        assert holds_sale(order, payment) is (fulfilment in REFUNDABLE_FULFILMENT)
    paid = {"payment_id": payment, "fulfilment_status": F.DELIVERED, "money_status": M.PAID}
    assert not holds_sale(paid, ObjectId())  # another payment of the same order: money only
    assert not holds_sale(None, payment)
    guard = refund_guard(ObjectId(), payment)
    assert guard["fulfilment_status"] == {"$in": ["paid", "shipped", "delivered"]}
    assert guard["money_status"] == {"$in": ["paid", "partially_refunded"]}


def test_a_refund_moves_the_money_status_by_what_is_left() -> None:
    assert money_after_refund(True) is M.REFUNDED
    assert money_after_refund(False) is M.PARTIALLY_REFUNDED


@pytest.mark.parametrize(
    ("fulfilment", "money", "status"),
    [
        (F.PLACED, M.UNPAID, "pending_payment"),
        (F.CANCELLED, M.UNPAID, "cancelled"),
        (F.EXPIRED, M.UNPAID, "expired"),
        (F.PAID, M.PAID, "paid"),
        (F.PAID, M.PARTIALLY_REFUNDED, "partially_refunded"),
        (F.SHIPPED, M.PARTIALLY_REFUNDED, "shipped"),
        (F.DELIVERED, M.PARTIALLY_REFUNDED, "delivered"),
        (F.PAID, M.REFUNDED, "refunded"),
        (F.DELIVERED, M.REFUNDED, "refunded"),
    ],
)
def test_public_status(fulfilment: FulfilmentStatus, money: MoneyStatus, status: str) -> None:
    assert public_status(fulfilment, money) == status
    assert OrderStatus(status)


def evaluate(expression: Any, doc: dict[str, Any]) -> Any:
    """Just enough of MongoDB's expression language to run STATUS_EXPRESSION in process."""
    if isinstance(expression, str):
        return doc.get(expression[1:]) if expression.startswith("$") else expression
    if isinstance(expression, list):
        return [evaluate(item, doc) for item in expression]
    ((operator, operand),) = expression.items()
    if operator == "$switch":
        for branch in operand["branches"]:
            if evaluate(branch["case"], doc):
                return evaluate(branch["then"], doc)
        return evaluate(operand["default"], doc)
    values = evaluate(operand, doc)
    if operator == "$eq":
        return values[0] == values[1]
    if operator == "$in":
        return values[0] in values[1]
    if operator == "$and":
        return all(values)
    raise AssertionError(f"unexpected operator {operator}")


def test_the_pipeline_derives_status_as_the_function_does() -> None:
    for fulfilment, money in itertools.product(FulfilmentStatus, MoneyStatus):
        doc = {"fulfilment_status": fulfilment.value, "money_status": money.value}
        assert evaluate(STATUS_EXPRESSION, doc) == public_status(fulfilment, money), doc


def test_a_transition_is_one_update_with_its_history_entry() -> None:
    payment = ObjectId()
    stages = transition_pipeline(paid_by(payment), NOW, f"payment:{payment}", None)
    assert stages[0]["$set"] == {
        "fulfilment_status": {"$literal": "paid"},
        "money_status": {"$literal": "paid"},
        "payment_id": {"$literal": payment},
        "updated_at": {"$literal": NOW},
    }
    assert stages[1] == {"$set": {"status": STATUS_EXPRESSION}}
    appended = stages[2]["$set"]["history"]["$concatArrays"][1][0]
    assert appended["by"] == {"$literal": f"payment:{payment}"}
    assert appended["status"] == "$status"  # the status just recomputed


def test_history_entries_record_both_statuses() -> None:
    entry = history_entry(F.SHIPPED, M.PARTIALLY_REFUNDED, NOW, "admin-1", "parcel left")
    assert entry == {
        "status": "shipped",
        "fulfilment_status": "shipped",
        "money_status": "partially_refunded",
        "at": NOW,
        "by": "admin-1",
        "reason": "parcel left",
    }


@pytest.mark.parametrize(
    ("stored", "history", "split"),
    [
        ("pending_payment", [], (F.PLACED, M.UNPAID)),
        ("paid", [], (F.PAID, M.PAID)),
        ("cancelled", [], (F.CANCELLED, M.UNPAID)),
        ("refunded", [], (F.PAID, M.REFUNDED)),
        ("refunded", ["pending_payment", "paid", "shipped"], (F.SHIPPED, M.REFUNDED)),
        ("partially_refunded", ["paid", "shipped", "delivered"], (F.DELIVERED, M.PARTIALLY_REFUNDED)),
    ],
)
def test_orders_stored_before_the_two_statuses(
    stored: str, history: list[str], split: tuple[FulfilmentStatus, MoneyStatus]
) -> None:
    legacy = {"status": stored, "history": [{"status": step} for step in history]}
    assert split_of(legacy) == split
    assert migration_set(legacy) == {
        "fulfilment_status": split[0].value,
        "money_status": split[1].value,
        "status": public_status(*split),
    }
    assert migration_set({**legacy, "fulfilment_status": "paid", "money_status": "paid"}) is None


def test_restockable_units_of_a_line() -> None:
    assert restockable({"quantity": 5}) == 5
    assert restockable({"quantity": 5, "restocked_quantity": 2, "restock_pending": 1}) == 2
    assert restockable({"quantity": 3, "restocked_quantity": 3, "restock_pending": 0}) == 0


def test_order_events_carry_the_order_and_its_money() -> None:
    order = {
        "_id": ObjectId(),
        "user_id": "u1",
        "status": "cancelled",
        "fulfilment_status": "cancelled",
        "money_status": "unpaid",
        "total": {"amount": 1250, "currency": "BDT"},
    }
    event = order_event(CLOSING_EVENTS[F.CANCELLED], order, NOW, reason="customer")
    assert isinstance(event.pop("_id"), ObjectId)
    assert event == {
        "type": "OrderCancelled",
        "aggregate_id": order["_id"],
        "user_id": "u1",
        "status": "cancelled",
        "fulfilment_status": "cancelled",
        "money_status": "unpaid",
        "total": {"amount": 1250, "currency": "BDT"},
        "data": {"reason": "customer"},
        "created_at": NOW,
        "published_at": None,
    }
    assert set(CLOSING_EVENTS) == {F.CANCELLED, F.EXPIRED}
