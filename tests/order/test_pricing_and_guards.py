"""The order service's pure rules, in process (no stack): pricing lines from the catalog, the order's
total and bounds, what is reported short, and the guards of its own transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from services.order.orders.errors import (
    InactiveProducts,
    MixedCurrencies,
    TotalTooLarge,
    UnknownProducts,
    ZeroTotal,
)
from services.order.orders.pricing import check_size, line_of, new_order, priced_lines, shortages, total_of
from services.order.orders.state import close_guard, step_guard
from services.order.settings import OrderSettings
from shared.contracts.orders import FulfilmentStatus
from shared.errors import ValidationFailed
from shared.money import MAX_AMOUNT

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def product(
    price: int = 1250, currency: str = "BDT", *, active: bool = True, stock: int = 5
) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "sku": f"SKU-{ObjectId()}",
        "name": "Tea",
        "price": {"amount": price, "currency": currency},
        "active": active,
        "stock": stock,
    }


def settings(**values: Any) -> OrderSettings:
    return OrderSettings(_env_file=None, env="test", **values)


def test_a_line_is_priced_from_the_catalog_and_nothing_is_restocked_yet() -> None:
    tea = product(1250)
    assert line_of(tea, 3) == {
        "product_id": tea["_id"],
        "sku": tea["sku"],
        "name": "Tea",
        "quantity": 3,
        "unit_price": {"amount": 1250, "currency": "BDT"},
        "line_total": {"amount": 3750, "currency": "BDT"},
        "restocked_quantity": 0,
    }


def test_lines_name_every_unknown_or_inactive_product_and_refuse_mixed_currencies() -> None:
    tea, cup, gone = product(), product(active=False), ObjectId()
    catalog = {tea["_id"]: tea, cup["_id"]: cup}
    with pytest.raises(UnknownProducts) as unknown:
        priced_lines(catalog, [(tea["_id"], 1), (gone, 1)])
    assert unknown.value.extensions["product_ids"] == [str(gone)]
    with pytest.raises(InactiveProducts) as inactive:
        priced_lines(catalog, [(tea["_id"], 1), (cup["_id"], 1)])
    assert inactive.value.extensions["product_ids"] == [str(cup["_id"])]
    dollars = product(currency="USD")
    with pytest.raises(MixedCurrencies):
        priced_lines({**catalog, dollars["_id"]: dollars}, [(tea["_id"], 1), (dollars["_id"], 1)])
    assert [line["quantity"] for line in priced_lines(catalog, [(tea["_id"], 2)])] == [2]


def test_the_shops_own_bounds_of_one_order() -> None:
    limits = settings(max_order_lines=2, max_line_quantity=3)
    check_size([(ObjectId(), 3), (ObjectId(), 1)], limits)
    with pytest.raises(ValidationFailed, match="at most 2 lines"):
        check_size([(ObjectId(), 1)] * 3, limits)
    with pytest.raises(ValidationFailed, match="at most 3 units"):
        check_size([(ObjectId(), 4)], limits)


def test_the_total_is_summed_and_bounded() -> None:
    lines = [line_of(product(1250), 2), line_of(product(99), 1)]
    assert total_of(lines) == {"amount": 2599, "currency": "BDT"}
    with pytest.raises(TotalTooLarge):
        total_of([line_of(product(MAX_AMOUNT), 1), line_of(product(1), 1)])
    with pytest.raises(ZeroTotal):
        total_of([line_of(product(0), 3)])


def test_a_new_order_waits_for_its_payment_until_it_expires() -> None:
    order = new_order("u1", [line_of(product(500), 2)], NOW, settings(order_payment_ttl_seconds=600), "k1")
    assert (order["status"], order["fulfilment_status"], order["money_status"]) == (
        "pending_payment",
        "placed",
        "unpaid",
    )
    assert order["expires_at"] == NOW + timedelta(seconds=600)
    assert order["total"] == {"amount": 1000, "currency": "BDT"}
    assert [entry["status"] for entry in order["history"]] == ["pending_payment"]


def test_shortages_name_every_short_line_and_the_one_that_missed() -> None:
    plenty, few, off = product(stock=9), product(stock=1), product(stock=5, active=False)
    lines = [line_of(plenty, 2), line_of(few, 2), line_of(off, 1)]
    products = {doc["_id"]: doc for doc in (plenty, few, off)}
    short = shortages(lines, products, missed=plenty["_id"])  # stock came back since it missed
    assert [(line["sku"], line["requested"], line["available"]) for line in short] == [
        (plenty["sku"], 2, 9),
        (few["sku"], 2, 1),
        (off["sku"], 1, 0),
    ]


def test_transition_guards_require_the_previous_state() -> None:
    order_id = ObjectId()
    assert step_guard(order_id, FulfilmentStatus.SHIPPED) == {
        "_id": order_id,
        "fulfilment_status": {"$in": ["paid"]},
        "money_status": {"$in": ["paid", "partially_refunded"]},  # a fully refunded order does not ship
    }
    assert step_guard(order_id, FulfilmentStatus.DELIVERED) == {
        "_id": order_id,
        "fulfilment_status": {"$in": ["shipped"]},
    }
    assert close_guard(order_id, {"user_id": "u1"}) == {
        "_id": order_id,
        "status": "pending_payment",
        "user_id": "u1",
    }
