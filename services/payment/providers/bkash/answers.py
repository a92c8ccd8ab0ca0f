"""What bKash's answers mean: business errors in any of its three envelopes, payments and refunds
as events and states, amounts as exact decimal strings.

bKash answers business errors with HTTP 200 and `statusCode != "0000"` (v1.2), the legacy
`errorCode`, or v2's `externalCode`; all three are read. Field names differ between versions
(`paymentID`/`paymentId`, `trxID`/`trxId`, `merchantInvoiceNumber`/`merchantInvoice`): the first
present is taken. Statuses other than `Completed` that end a payment are not all documented, so a
known set fails it and anything else leaves it pending.
"""

from __future__ import annotations

from typing import Any

from services.payment.providers.base import (
    EventKind,
    ProviderError,
    ProviderEvent,
    RefundRequest,
    RefundResult,
    RefundState,
)
from shared.currencies import Unrepresentable, from_decimal, to_decimal
from shared.db import Document

NAME = "bkash"
CURRENCY = "BDT"
SUCCESS = "0000"
MAINTENANCE = frozenset({"503"})
ALREADY_EXECUTED = frozenset({"2062", "2117", "2068"})
FAILED_STATES = frozenset({"failed", "cancelled", "canceled", "expired", "declined"})
TEXT_LIMIT = 255  # bKash's limit on sku and reason


class BkashError(ProviderError):
    """bKash refused (`code` is its business code) or gave no usable answer (`outcome_unknown`)."""

    def __init__(
        self, message: str, *, code: str | None = None, retryable: bool = False, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.code = code
        self.outcome_unknown = outcome_unknown


def to_bdt(minor: int) -> str:
    """Poisha to bKash's decimal string: 123450 -> "1234.50" (positive amounts only)."""
    try:
        return to_decimal(NAME, CURRENCY, minor)
    except Unrepresentable as error:
        raise BkashError(f"bKash cannot take this amount: {error.rule}") from error


def from_bdt(value: object) -> int:
    """bKash's decimal string ("100", "600.00") to poisha; anything else is refused, never rounded."""
    try:
        return from_decimal(NAME, CURRENCY, value)
    except Unrepresentable as error:
        raise BkashError(f"bKash sent an amount we cannot book exactly: {error.rule}") from error


def require_bdt(currency: str) -> None:
    if currency.upper() != CURRENCY:
        raise BkashError(f"bKash takes BDT only, not {currency[:3]}.")


def text(data: Document, *names: str) -> str | None:
    """The first of `names` present as a non-empty value (bKash spells fields differently per version)."""
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def business_error(data: Document) -> tuple[str, str] | None:
    """(code, message) of an error envelope in any of bKash's three shapes; None for a success."""
    status = data.get("statusCode")
    if status is not None and str(status) != SUCCESS:
        return str(status), str(data.get("statusMessage") or "")
    if data.get("errorCode") not in (None, ""):
        return str(data["errorCode"]), str(data.get("errorMessage") or "")
    if data.get("externalCode") not in (None, ""):
        return str(data["externalCode"]), str(data.get("errorMessageEn") or "")
    return None


def payment_event(data: Document, provider_payment_id: str) -> ProviderEvent:
    """What an execute or status answer vouches for, with an id stable per bKash transaction."""
    echoed = text(data, "paymentID", "paymentId")
    if echoed is not None and echoed != provider_payment_id:
        raise BkashError("bKash answered about another payment.")
    state = str(data.get("transactionStatus") or "unknown")
    trx_id = text(data, "trxID", "trxId")
    amount = from_bdt(data["amount"]) if data.get("amount") not in (None, "") else None
    common: dict[str, Any] = {
        "provider_payment_id": provider_payment_id,
        "amount": amount,
        "currency": text(data, "currency") or CURRENCY,
        "reference": text(data, "merchantInvoiceNumber", "merchantInvoice"),
    }
    if state.lower() == "completed" and trx_id is not None:
        if amount is None:
            raise BkashError("bKash reported a completed payment without its amount.")
        return ProviderEvent(event_id=f"trx:{trx_id}", kind="payment_succeeded", **common)
    kind: EventKind = "payment_failed" if state.lower() in FAILED_STATES else "payment_pending"
    return ProviderEvent(event_id=f"status:{provider_payment_id}:{state.lower()}", kind=kind, **common)


def refund_state(status: str | None) -> RefundState:
    status = (status or "").lower()
    if status == "completed":
        return "succeeded"
    return "failed" if status in FAILED_STATES else "pending"


def refund_trx_id(entry: Document) -> str | None:
    return text(entry, "refundTrxId", "refundTrxID")


def refund_result(entry: Document) -> RefundResult | None:
    trx = refund_trx_id(entry)
    if trx is None:
        return None
    return RefundResult(trx, refund_state(text(entry, "refundTransactionStatus", "transactionStatus")))


def our_refund(
    entries: list[Document], request: RefundRequest, provider_refund_id: str | None
) -> RefundResult | None:
    """Our refund among bKash's, which lists each with only `refundTrxId`, its status, `refundAmount`
    and `completedTime` (never our `sku`): by its refundTrxId once we know it; else, for a refund
    whose answer was lost, the first refundTrxId that was not listed before we sent it, that no other
    refund of ours owns, and that carries our amount. None: bKash lists nothing that can be ours."""
    if provider_refund_id:
        known = [entry for entry in entries if refund_trx_id(entry) == provider_refund_id]
        return refund_result(known[0]) if known else None
    if request.listed_before is None:
        return None
    taken = request.listed_before | request.owned_elsewhere
    for entry in entries:
        trx = refund_trx_id(entry)
        if trx is None or trx in taken:
            continue
        try:
            amount = from_bdt(entry.get("refundAmount", entry.get("amount")))
        except BkashError:
            continue  # an amount we cannot read is no match for ours
        if amount == request.amount:
            return refund_result(entry)
    return None
