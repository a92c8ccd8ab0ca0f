"""Nagad's wire format as this project speaks it: paths, headers, statuses, amounts, time stamps and
order ids, and how its answers are read.

Sources are named in docs/providers.md: Nagad's Online Payment API Integration Guide v3.3 (N1), its
PHP samples, and maintained clients. What they leave open is kept in named constants here, marked
UNCONFIRMED (one or conflicting sources) or SECONDARY (several independent integrations agree,
Nagad's own documents do not say).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import IPv4Address
from typing import Any

import httpx

from services.payment.providers.base import AlreadyStarted, EventKind, InvalidNotification, ProviderError
from shared.currencies import Unrepresentable, from_decimal, to_decimal
from shared.forwarding import parse_address

API_VERSION = "v-0.2.0"
# N1 lists PC_WEB, MOBILE_WEB, MOBILE_APP, WALLET_WEB_VIEW, BILL_KEY; a web shop is PC_WEB.
CLIENT_TYPE = "PC_WEB"
# X-KM-IP-V4 carries the shopper's IPv4 ("used to send the client IP", N1); calls the server starts
# itself carry NAGAD_SERVER_IP, which outside production may be empty: then this.
LOOPBACK_IP = "127.0.0.1"
SEND_MERCHANT_ID_HEADER = True  # X-KM-MC-Id: only 2 sources send it [UNCONFIRMED, harmless]
VERIFY_SENDS_HEADERS = True  # the official callback sample sends none; most clients send them
BDT_CURRENCY_CODE = "050"  # ISO 4217 numeric code of BDT, as Nagad expects it
DHAKA = timezone(timedelta(hours=6), "Asia/Dhaka")  # Bangladesh keeps no daylight saving time

INITIALIZE_PATH = "/check-out/initialize/{merchant_id}/{order_id}"
COMPLETE_PATH = "/check-out/complete/{reference}"
VERIFY_PATH = "/verify/payment/{reference}"
# Refund ("purchase cancel") [SECONDARY]: path, query and body field from maintained clients (N4,
# N7); one sends only paymentRefId, a 2021 sample only orderId: both are sent.
CANCEL_PATH = "/purchase/cancel"
CANCEL_QUERY = ("paymentRefId", "orderId")
CANCEL_SENSITIVE_FIELD = "sensitiveDataCancelRequest"
CANCEL_ORDER_ID_IN_SENSITIVE_DATA = False  # the 2021 sample put orderId inside too
# A cancel that moved money answers one of these, with a cancelTrxId and the cancelAmount (N5). Any
# other signed status is unknown (settled from verify later); only {reason, message} is a refusal.
CANCEL_SUCCESS_STATUSES = frozenset({"Refunded", "PartialRefunded", "Cancelled", "PartialCancelled"})

# N1's answer to an initialize repeated with the same order id on the same day, and to a bad order id.
DUPLICATE_ORDER_REASON = "16_0006_083"
INVALID_ORDER_REASON = "16_0006_068"
# N1: an order id is alphanumeric, 5 to 20 characters (else 16_0006_068); ours are 19.
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
PARTLY_RETURNED_STATUSES = frozenset({"PartialCancelled", "PartialRefunded"})
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


def ipv4_or(address: str | None, fallback: str) -> str:
    """`address` as the dotted IPv4 X-KM-IP-V4 takes (IPv4-mapped IPv6 folded), else `fallback`."""
    parsed = parse_address(address) if address else None
    return str(parsed) if isinstance(parsed, IPv4Address) else fallback


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


class Refused(ProviderError):
    """Nagad answered `{reason, message}`: it refused the request (nothing was done)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"Nagad refused: {reason}: {message}")
        self.reason = reason


class AlreadyInitialized(AlreadyStarted):
    """16_0006_083: Nagad initialized this order id earlier today (the answer was lost), and gives
    neither its reference nor its challenge again: this payment cannot go on, a new one can."""


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
    if "reason" in body:
        reason = short_ascii(str(body.get("reason")), 80)
        message = short_ascii(str(body.get("message", "")), 200)
        if reason == DUPLICATE_ORDER_REASON:
            raise AlreadyInitialized(f"Nagad already initialized this order today: {message}")
        raise Refused(reason, message)
    if response.status_code >= 400:
        raise ProviderError(f"Nagad answered {response.status_code} without a reason")
    return body
