"""Stripe's units and statuses in ours: amounts through `shared.currencies` (zero-decimal,
three-decimal and ISK rules), PaymentIntent and Refund statuses as our event kinds and refund states."""

from __future__ import annotations

from services.payment.providers.base import EventKind, ProviderError, RefundState
from shared.currencies import Unrepresentable, from_provider, to_provider

NAME = "stripe"
SUCCEEDED = "succeeded"
REFUND_STATES: dict[str, RefundState] = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}


def to_stripe(currency: str, amount: int) -> int:
    """Our minor units in Stripe's unit; checked before anything is created, so a refusal here is a bug."""
    try:
        return to_provider(NAME, currency, amount)
    except Unrepresentable as error:
        raise ProviderError(f"Stripe cannot take this amount: {error.rule}") from error


def ours(currency: str | None, amount: int | None) -> tuple[int | None, str | None, str | None]:
    """A Stripe amount as (our minor units, our currency code, what did not convert)."""
    if currency is None or amount is None:
        return None, currency.upper() if currency else None, None
    try:
        return from_provider(NAME, currency, amount), currency.upper(), None
    except Unrepresentable as error:
        return None, currency.upper(), f"{amount} {currency}: {error.rule}"[:200]


def refund_state(status: str | None) -> RefundState:
    """`pending` and `requires_action` are not final yet; `canceled` gives the money back to no one."""
    return REFUND_STATES.get(status or "", "pending")


def payment_kind(status: str, failed_attempt: bool) -> EventKind:
    """A PI returns to `requires_payment_method` after a declined attempt (not terminal: the shopper
    may try another card); only `last_payment_error` tells that apart from "nothing tried yet"."""
    if status == SUCCEEDED:
        return "payment_succeeded"
    if status == "canceled":
        return "payment_cancelled"
    if status == "requires_payment_method" and failed_attempt:
        return "payment_failed"
    return "payment_pending"
