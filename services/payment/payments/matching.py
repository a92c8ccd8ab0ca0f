"""Whether what a provider reports is about this payment and its money: the pure checks settlement
makes before anything is applied.

Our reference (the payment id we sent, echoed back) must be this payment's: a report that ties the
provider's payment to another of ours is never applied (a person looks). A success must carry the
payment's amount and currency, converted exactly from the provider's unit: one that is incomplete
is asked about at the provider; one that does not match is recorded as captured, flagged and
refunded (capture.py).
"""

from __future__ import annotations

from services.payment.providers.base import ProviderEvent
from shared.db import Document


def names_another_payment(payment: Document, event: ProviderEvent) -> bool:
    """The provider echoes a reference of ours that is not this payment's id."""
    return event.reference is not None and event.reference != str(payment["_id"])


def problem_with(payment: Document, event: ProviderEvent) -> str | None:
    """Why a success event cannot be applied as it is: incomplete, or not this payment's money."""
    if event.amount_error is not None:
        return "unconvertible_capture"
    if event.amount is None or not event.currency:
        return "incomplete"
    if event.currency.upper() != payment["currency"]:
        return "currency_mismatch"
    if event.amount != payment["amount"]:
        return "amount_mismatch"
    return None
