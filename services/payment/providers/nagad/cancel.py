"""Nagad's refund ("purchase cancel"): what is sent, and what its answer and verify's mean.

* `originalRequestDate` is `Ymd` in Asia/Dhaka. Maintained clients disagree on which day: the
  payment's (an F# client) or the day of the refund (codeboxr, karim-007, a 2021 sample), hence
  NAGAD_REFUND_REQUEST_DATE. The payment's day comes from verify's `orderDateTime`, which Nagad's
  own guide shows as `null`; then from when we started the payment.
* A cancel that moved money answers `Refunded`, `PartialRefunded`, `Cancelled` or `PartialCancelled`
  with a `cancelTrxId`; it is booked only if its `cancelAmount` is the amount asked. Any other signed
  status is unknown: the refund stays pending (with the `cancelTrxId` when there is one) and
  reconciliation judges it from verify. Only a `{reason, message}` answer is a refusal.
* Whether Nagad de-duplicates cancels is not known, so a cancel is never sent twice unless it surely
  never left; what is unknown is settled from verify instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from services.payment.providers.base import ProviderError, RefundRequest, RefundResult
from services.payment.providers.nagad.wire import (
    CANCEL_ORDER_ID_IN_SENSITIVE_DATA,
    CANCEL_SUCCESS_STATUSES,
    FULLY_RETURNED_STATUSES,
    PAID,
    dhaka_stamp,
    from_taka,
    order_id_for,
    poisha_or_none,
    short_ascii,
    to_taka,
)
from shared.logging import log_event

logger = logging.getLogger("payment.nagad")
RequestDateRule = Literal["original", "today"]


def request_date(
    paid: Mapping[str, Any], started_at: datetime | None, rule: RequestDateRule, now: datetime | None = None
) -> str:
    """`originalRequestDate`: today's date, or the payment's (verify's, else when we started it)."""
    if rule == "today":
        return dhaka_stamp(now)[:8]
    # verify writes it "2021-08-25 14:51:35.0" (already Asia/Dhaka), or null.
    digits = re.sub(r"\D", "", str(paid.get("orderDateTime") or ""))[:8]
    if len(digits) == 8:
        return digits
    if started_at is None:
        raise ProviderError("Nagad gave no date for this payment, and neither do our records")
    return dhaka_stamp(started_at)[:8]


def reference_no(request: RefundRequest) -> str:
    """Our refund id as Nagad's referenceNo: short and alphanumeric, like our order ids."""
    return order_id_for(request.refund_id)


def cancel_payload(
    merchant_id: str,
    request: RefundRequest,
    paid: Mapping[str, Any],
    date: str,
    fits: Callable[[Mapping[str, Any]], bool],
) -> dict[str, Any]:
    """The sensitive data of a cancel; the message gives way when the RSA block would overflow."""
    payload: dict[str, Any] = {
        "merchantId": merchant_id,
        "originalRequestDate": date,
        "originalAmount": to_taka(from_taka(paid.get("amount"))),
        "cancelAmount": to_taka(request.amount),
        "referenceNo": reference_no(request),
        "referenceMessage": "",
    }
    if CANCEL_ORDER_ID_IN_SENSITIVE_DATA:
        payload["orderId"] = str(paid.get("orderId") or "")
    message = short_ascii(request.reason, 100) or "Refund"
    while message and not fits({**payload, "referenceMessage": message}):
        message = message[:-1]
    payload["referenceMessage"] = message
    return payload


def _text(value: object) -> str | None:
    """An id Nagad sent, as short printable text; None when absent or empty."""
    text = short_ascii(str(value), 64) if value not in (None, "") else ""
    return text or None


def judge_answer(answer: Mapping[str, Any], request: RefundRequest) -> RefundResult:
    """Nagad's signed answer to a cancel: succeeded, or pending (unknown) for verify to settle."""
    status, trx = answer.get("status"), _text(answer.get("cancelTrxId"))
    if status in CANCEL_SUCCESS_STATUSES:
        answered = poisha_or_none(answer.get("cancelAmount"))
        if answered == request.amount:
            return RefundResult(provider_refund_id=trx or reference_no(request), state="succeeded")
        if answered is not None:
            # Money moved, but not as asked: pending, and not bound to this refund, for a person.
            log_event(logger, "nagad.refund_amount_differs", logging.WARNING, refund_id=request.refund_id)
            raise ProviderError("Nagad cancelled another amount than asked", retryable=True)
    log_event(
        logger,
        "nagad.refund_status_unknown",
        logging.WARNING,
        refund_id=request.refund_id,
        status=short_ascii(str(status), 40),
        cancel_trx_id=trx,
    )
    if trx is None:
        raise ProviderError(f"Nagad answered the refund with status {status!r}", retryable=True)
    return RefundResult(provider_refund_id=trx, state="pending")


def judge_from_verify(
    data: Mapping[str, Any], request: RefundRequest, provider_refund_id: str | None
) -> RefundResult:
    """A pending refund judged from verify (`status`, and `cancelIssuerRefNo`: the last cancel).

    Our cancel is the last one Nagad made: succeeded. Nothing ever cancelled, and Nagad gave us no
    cancel id: it never happened (failed). Everything returned: succeeded (our holds never pass what
    was captured). Otherwise which cancel was ours cannot be told: pending, logged for a person.
    """
    status, last = data.get("status"), _text(data.get("cancelIssuerRefNo"))
    if provider_refund_id and last == provider_refund_id and status in CANCEL_SUCCESS_STATUSES:
        return RefundResult(provider_refund_id, "succeeded")
    own = provider_refund_id or reference_no(request)
    if status == PAID and last is None and not provider_refund_id:
        return RefundResult(own, "failed")
    if status in FULLY_RETURNED_STATUSES:
        # The last cancel's id names this refund only if no other refund of ours holds it.
        unclaimed = last is not None and last not in request.owned_elsewhere
        return RefundResult(provider_refund_id or (last if unclaimed else None) or own, "succeeded")
    log_event(
        logger,
        "nagad.refund_needs_attention",
        logging.WARNING,
        refund_id=request.refund_id,
        status=short_ascii(str(status), 40),
    )
    return RefundResult(own, "pending")
