"""The payment service's pure rules, in process (no stack): whether a provider's report matches the
payment (reference, amount, currency), and the limits of a refund (what is refundable, which units
may go back, what a refund of lines comes to)."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

from services.payment.payments.matching import names_another_payment, problem_with
from services.payment.providers.base import EventKind, ProviderEvent
from services.payment.refunds.errors import RestockExceedsSold
from services.payment.refunds.limits import (
    amount_asked,
    captured,
    captured_currency,
    check_restockable,
    refundable_amount,
)

PAYMENT: dict[str, Any] = {"_id": ObjectId(), "amount": 5100, "currency": "BDT"}


def reported(kind: EventKind = "payment_succeeded", **fields: Any) -> ProviderEvent:
    values: dict[str, Any] = {"amount": 5100, "currency": "BDT", "reference": str(PAYMENT["_id"]), **fields}
    return ProviderEvent(event_id="evt_1", kind=kind, provider_payment_id="pi_1", **values)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (reported(), None),
        (reported(currency="bdt"), None),  # providers write codes in lower case
        (reported(amount=5000), "amount_mismatch"),
        (reported(amount=5101), "amount_mismatch"),
        (reported(currency="USD"), "currency_mismatch"),
        (reported(amount=None), "incomplete"),
        (reported(currency=None), "incomplete"),
        (reported(amount=None, amount_error="51.005 BDT: not a whole poisha"), "unconvertible_capture"),
    ],
)
def test_a_success_must_carry_the_payments_money(event: ProviderEvent, problem: str | None) -> None:
    assert problem_with(PAYMENT, event) == problem


def test_a_report_about_another_of_our_payments_is_recognised() -> None:
    assert not names_another_payment(PAYMENT, reported())
    assert not names_another_payment(PAYMENT, reported(reference=None))  # nothing echoed: bound by id
    assert names_another_payment(PAYMENT, reported(reference=str(ObjectId())))


def test_what_was_captured_is_the_providers_figure() -> None:
    assert (captured(PAYMENT), captured_currency(PAYMENT)) == (5100, "BDT")
    mismatched = {**PAYMENT, "captured_amount": 4000, "captured_currency": "USD"}
    assert (captured(mismatched), captured_currency(mismatched)) == (4000, "USD")
    nothing = {**PAYMENT, "captured_amount": 0}  # a capture we could not read: nothing to give back
    assert captured(nothing) == 0


def test_refundable_is_captured_minus_refunded_minus_held() -> None:
    assert refundable_amount(PAYMENT) == 5100
    assert refundable_amount({**PAYMENT, "refunded_amount": 1000, "refund_pending_amount": 600}) == 3500
    assert refundable_amount({**PAYMENT, "refunded_amount": 5100}) == 0


ORDER: dict[str, Any] = {
    "items": [
        {"product_id": ObjectId(), "quantity": 3, "unit_price": {"amount": 700}, "restocked_quantity": 1},
        {"product_id": ObjectId(), "quantity": 2, "unit_price": {"amount": 1500}, "restock_pending": 2},
    ]
}
FIRST, SECOND = (line["product_id"] for line in ORDER["items"])


def test_a_refund_comes_to_what_was_asked_else_its_lines_else_the_rest() -> None:
    lines = [{"product_id": FIRST, "quantity": 2}]
    assert amount_asked(1234, lines, ORDER, 5100) == 1234
    assert amount_asked(None, lines, ORDER, 5100) == 1400
    assert amount_asked(None, [], ORDER, 5100) == 5100
    assert amount_asked(None, lines, None, 5100) == 5100  # no units held: money only


def test_units_go_back_only_if_sold_and_not_yet_returned_or_held() -> None:
    check_restockable(ORDER, [{"product_id": FIRST, "quantity": 2}])  # 3 sold, 1 returned
    with pytest.raises(RestockExceedsSold) as too_many:
        check_restockable(
            ORDER, [{"product_id": FIRST, "quantity": 3}, {"product_id": SECOND, "quantity": 1}]
        )
    assert too_many.value.extensions["lines"] == [
        {"product_id": str(FIRST), "requested": 3, "restockable": 2},
        {"product_id": str(SECOND), "requested": 1, "restockable": 0},  # both held by a pending refund
    ]
    with pytest.raises(RestockExceedsSold):
        check_restockable(ORDER, [{"product_id": ObjectId(), "quantity": 1}])  # never sold


def test_a_payment_that_holds_no_sale_returns_no_units() -> None:
    with pytest.raises(RestockExceedsSold, match="Refund money only"):
        check_restockable(None, [{"product_id": FIRST, "quantity": 1}])
