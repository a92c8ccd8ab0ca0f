"""Nagad's wire format as this project speaks it: paths, headers, statuses, amounts, time stamps and
order ids, and how its answers are read.

What Nagad's own material leaves open is kept in named constants here, each marked UNCONFIRMED
(one or conflicting sources) or SECONDARY (several independent integrations agree, Nagad's own
documents do not say): the refund ("purchase cancel") path, query and field names and its answer;
`X-KM-MC-Id`; the order id length limit; which statuses mean what (docs/providers.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from services.payment.providers.base import EventKind, InvalidNotification, ProviderError
from shared.currencies import Unrepresentable, from_decimal, to_decimal

API_VERSION = "v-0.2.0"
CLIENT_TYPE = "PC_WEB"  # MOBILE_APP / MOBILE_WEB also seen [UNCONFIRMED which the gateway treats differently]
# X-KM-IP-V4 is "the customer's IPv4" in the official sample; PaymentRequest does not carry the
# shopper's address yet, so this stands in for it (the request would need a field for it).
FALLBACK_CLIENT_IP = "127.0.0.1"
SEND_MERCHANT_ID_HEADER = True  # X-KM-MC-Id: only 2 sources send it [UNCONFIRMED, harmless]
VERIFY_SENDS_HEADERS = True  # the official callback sample sends none; most clients send them
BDT_CURRENCY_CODE = "050"  # ISO 4217 numeric code of BDT, as Nagad expects it
DHAKA = timezone(timedelta(hours=6), "Asia/Dhaka")  # Bangladesh keeps no daylight saving time

INITIALIZE_PATH = "/check-out/initialize/{merchant_id}/{order_id}"
COMPLETE_PATH = "/check-out/complete/{reference}"
VERIFY_PATH = "/verify/payment/{reference}"
# Refund ("purchase cancel") [SECONDARY]: path, query parameters and the body's field name come
# from a 2021 sample and third-party clients, not from Nagad's own documentation.
CANCEL_PATH = "/purchase/cancel"
CANCEL_QUERY = ("paymentRefId", "orderId")  # the 2021 sample sent only orderId
CANCEL_SENSITIVE_FIELD = "sensitiveDataCancelRequest"
CANCEL_ORDER_ID_IN_SENSITIVE_DATA = False  # the 2021 sample put orderId inside too
CANCEL_SUCCESS_STATUSES = frozenset({"Success"})  # answer's `status` [UNCONFIRMED: F# types only]

# Nagad's own C# sample: the order id "should be less than 20 char"; alphanumeric is recommended.
ORDER_ID_LENGTH = 19
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
# Payment reference ids are base64 text; anything else is not one of Nagad's.
REFERENCE = re.compile(r"^[A-Za-z0-9+/=_.-]{1,256}$")

# --- Statuses (verify's `status`) [SECONDARY: F# enum + Laravel packages] -----------------------
PAID = "Success"
FAILED_STATUSES = frozenset({"Aborted", "Cancelled", "Failed", "UnKnownFailed", "InvalidRequest", "Fraud"})
# Money was captured and then (partly) returned at Nagad. For a payment we still think is pending
# neither "paid" nor "failed" is true: left pending, logged for someone to look at.
RETURNED_STATUSES = frozenset({"Refunded", "PartialRefunded", "PartialCancelled"})
# What a payment may be in for a purchase cancel (refund) to make sense.
REFUNDABLE_STATUSES = frozenset({PAID, "PartialCancelled", "PartialRefunded"})
FULLY_RETURNED_STATUSES = frozenset({"Cancelled", "Refunded"})
# Our payment statuses past which a browser callback has nothing left to confirm.
SETTLED = frozenset({"succeeded", "partially_refunded", "refunded", "cancelled"})


def to_taka(minor: int) -> str:
    """5055 poisha -> "50.55" (Nagad's decimal string in BDT; positive amounts only)."""
    try:
        return to_decimal("nagad", "BDT", minor)
    except Unrepresentable as error:
        raise ProviderError(f"Nagad cannot take this amount: {error.rule}") from error


def from_taka(value: object) -> int:
    """Nagad's decimal taka ("50.55", "5") in poisha; anything not a whole number of poisha is refused."""
    try:
        return from_decimal("nagad", "BDT", value)
    except Unrepresentable as error:
        raise InvalidNotification(f"Nagad amount {str(value)[:20]!r}: {error.rule}") from error


def poisha_or_none(value: object) -> int | None:
    try:
        return from_taka(value)
    except InvalidNotification:
        return None


def dhaka_stamp(now: datetime | None = None) -> str:
    """`YmdHis` in Asia/Dhaka, as Nagad's datetime fields are written."""
    return (now or datetime.now(UTC)).astimezone(DHAKA).strftime("%Y%m%d%H%M%S")


def order_id_for(payment_id: str) -> str:
    """Our payment id (24 hex) as a stable 19-character alphanumeric Nagad order id (base 36)."""
    number = int(payment_id, 16)
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return digits.rjust(ORDER_ID_LENGTH, "0")


def payment_id_for(order_id: str) -> str:
    """The inverse of `order_id_for`; an order id that is not one of ours is returned unchanged
    (settlement then sees a reference that matches no payment and refuses the event)."""
    try:
        candidate = f"{int(order_id, 36):024x}"
    except ValueError:
        return order_id
    return (
        candidate if _OBJECT_ID.match(candidate) and order_id_for(candidate) == order_id.upper() else order_id
    )


def short_ascii(text: str, limit: int) -> str:
    return "".join(ch for ch in text if " " <= ch <= "~")[:limit]


def kind_of(status: str) -> EventKind:
    if status == PAID:
        return "payment_succeeded"
    if status in FAILED_STATUSES:
        return "payment_failed"
    return "payment_pending"  # still at the customer (OrderInitiated, Ready, OtpSent, ...) or unknown


class NotSent(ProviderError):
    """The request never reached Nagad (no connection): safe to send again, whatever it was."""


def json_of(response: httpx.Response) -> dict[str, Any]:
    """Nagad's JSON answer, or a ProviderError (5xx retryable; errors and WAF pages not)."""
    if response.status_code >= 500:
        raise ProviderError(f"Nagad answered {response.status_code}", retryable=True)
    try:
        body = response.json()
    except ValueError:
        # An unlisted server IP gets the WAF's HTML page ("Request Rejected") instead of JSON.
        raise ProviderError(
            f"Nagad answered {response.status_code} without JSON (is this server's IP whitelisted?)"
        ) from None
    if not isinstance(body, dict):
        raise ProviderError("Nagad answered something other than a JSON object")
    if "reason" in body or response.status_code >= 400:
        reason = short_ascii(str(body.get("reason", response.status_code)), 80)
        message = short_ascii(str(body.get("message", "")), 200)
        raise ProviderError(f"Nagad refused: {reason}: {message}")
    return body
