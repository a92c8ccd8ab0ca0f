"""Nagad merchant checkout (API "v-0.2.0", RSA flow): initialize → complete → browser callback → verify.

Protocol (Nagad's online payment API integration guide and its official samples):

* Requests carry `sensitiveData` = base64(RSA PKCS#1 v1.5 encryption of a compact JSON string with
  Nagad's public key) and `signature` = base64(RSASSA-PKCS1-v1_5 SHA-256 over the *same* JSON bytes
  with the merchant's private key). Signed responses are the mirror image: decrypted with the
  merchant key, verified with Nagad's key; anything that fails is refused.
* RSA-2048 with PKCS#1 v1.5 encrypts at most 245 bytes, so order ids, challenges and refund
  messages are kept short (and checked before sending).
* Nagad has no idempotency header: the order id is the idempotency key. It is derived from our
  payment id (`order_id_for`), so a retried initialize reuses it and Nagad refuses a second order.
* The browser callback is only a hint: the payment's state is always taken from verify, which is
  also what reconciliation asks (same event ids, so either settles a payment once).
* Verify answers plain (unsigned) JSON: its trust rests on TLS to Nagad's host and on the checks
  below (merchant id, reference id, order id, amount).

What the notes could not confirm is kept in module constants here, named and commented:
the refund ("purchase cancel") path, query and field names and its answer; `X-KM-MC-Id`; the
order id length limit; which statuses mean what.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote, urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.payment.context import Context, PaymentContext
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.payments.settlement import settle
from services.payment.providers.base import (
    CreatedPayment,
    EventKind,
    InvalidNotification,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    RefundRequest,
    RefundResult,
    RefundState,
)
from services.payment.settings import PaymentSettings
from shared.currencies import Unrepresentable, from_decimal, to_decimal
from shared.db import Database, Document
from shared.logging import log_event

logger = logging.getLogger("payment.nagad")
T = TypeVar("T")

# --- Wire constants ------------------------------------------------------------------------------
API_VERSION = "v-0.2.0"
CLIENT_TYPE = "PC_WEB"  # MOBILE_APP / MOBILE_WEB also seen [UNCONFIRMED which the gateway treats differently]
# X-KM-IP-V4 is "the customer's IPv4" in the official sample; PaymentRequest does not carry the
# shopper's address yet, so this stands in for it (see the module's report: a field is needed).
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
_REFERENCE = re.compile(r"^[A-Za-z0-9+/=_.-]{1,256}$")

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


# --- Keys and the RSA envelope -------------------------------------------------------------------
def _der(text: str) -> bytes:
    """PEM (any label, including PHP samples' mislabelled PKCS#8) or Nagad's bare base64 DER."""
    lines = text.replace("\\n", "\n").replace("\\r", "").splitlines()
    body = "".join("".join(line.split()) for line in lines if not line.strip().startswith("-----"))
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise ValueError("not a base64 DER or PEM key") from error


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(_der(text), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Nagad merchant private key must be an RSA key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(_der(text))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("Nagad's public key must be an RSA key")
    return key


def _compact(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


class Envelope:
    """Seal what we send (encrypt for Nagad, sign as the merchant) and open what Nagad signs."""

    def __init__(self, merchant_key: rsa.RSAPrivateKey, gateway_key: rsa.RSAPublicKey) -> None:
        self.merchant_key = merchant_key
        self.gateway_key = gateway_key
        self.limit = gateway_key.key_size // 8 - 11  # PKCS#1 v1.5 overhead: 245 bytes for RSA-2048

    def fits(self, payload: Mapping[str, Any]) -> bool:
        return len(_compact(payload)) <= self.limit

    def seal(self, payload: Mapping[str, Any]) -> tuple[str, str]:
        """(sensitiveData, signature) over one serialization of `payload`: sign exactly what is encrypted."""
        plain = _compact(payload)
        if len(plain) > self.limit:
            raise ProviderError(f"Nagad request too large to encrypt ({len(plain)} bytes)")
        encrypted = self.gateway_key.encrypt(plain, padding.PKCS1v15())
        signature = self.merchant_key.sign(plain, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(encrypted).decode(), base64.b64encode(signature).decode()

    def open(self, sensitive: object, signature: object) -> dict[str, Any]:
        """Decrypt Nagad's `sensitiveData` and verify its signature; refuse anything that fails."""
        if not isinstance(sensitive, str) or not isinstance(signature, str):
            raise ProviderError("Nagad's answer carries no sensitiveData/signature")
        try:
            plain = self.merchant_key.decrypt(base64.b64decode(sensitive, validate=True), padding.PKCS1v15())
            self.gateway_key.verify(
                base64.b64decode(signature, validate=True), plain, padding.PKCS1v15(), hashes.SHA256()
            )
            data = json.loads(plain)
        except (ValueError, InvalidSignature, binascii.Error) as error:
            # A forged or corrupted answer: never retried, never believed.
            raise ProviderError("Nagad's answer failed decryption or signature verification") from error
        if not isinstance(data, dict):
            raise ProviderError("Nagad's sensitiveData is not a JSON object")
        return data


# --- Money, time and identifiers -----------------------------------------------------------------
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


def _poisha_or_none(value: object) -> int | None:
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


def _short_ascii(text: str, limit: int) -> str:
    return "".join(ch for ch in text if " " <= ch <= "~")[:limit]


def _kind_of(status: str) -> EventKind:
    if status == PAID:
        return "payment_succeeded"
    if status in FAILED_STATUSES:
        return "payment_failed"
    return "payment_pending"  # still at the customer (OrderInitiated, Ready, OtpSent, ...) or unknown


class _NotSent(ProviderError):
    """The request never reached Nagad (no connection): safe to send again, whatever it was."""


# --- The provider --------------------------------------------------------------------------------
class NagadProvider:
    name = "nagad"

    def __init__(
        self,
        *,
        base_url: str,
        merchant_id: str,
        envelope: Envelope,
        timeout_seconds: float,
        max_retries: int,
    ) -> None:
        self.merchant_id = merchant_id
        self.envelope = envelope
        self.max_retries = max_retries
        # One pooled client for every call; nothing connects until the first request.
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_seconds,
            headers={"Accept": "application/json"},
        )

    # Payments ---------------------------------------------------------------------------------
    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        """Initialize (order id = our payment id) and complete; the shopper goes to Nagad's page."""
        if request.currency.upper() != "BDT":
            raise ProviderError(f"Nagad takes BDT only, not {request.currency}")
        order_id = order_id_for(request.payment_id)
        initialized = await self._retrying(lambda: self._initialize(order_id), only_unsent=False)
        reference, challenge = initialized.get("paymentReferenceId"), initialized.get("challenge")
        if (
            not isinstance(reference, str)
            or not _REFERENCE.match(reference)
            or not isinstance(challenge, str)
        ):
            raise ProviderError("Nagad's initialize answer lacks paymentReferenceId or challenge")
        redirect_url = await self._retrying(
            lambda: self._complete(reference, order_id, request, challenge), only_unsent=False
        )
        log_event(logger, "nagad.payment_created", payment_id=request.payment_id, order_id=order_id)
        return CreatedPayment(provider_payment_id=reference, redirect_url=redirect_url)

    async def _initialize(self, order_id: str) -> dict[str, Any]:
        stamp = dhaka_stamp()
        sensitive, signature = self.envelope.seal(
            {
                "merchantId": self.merchant_id,
                "datetime": stamp,
                "orderId": order_id,
                "challenge": secrets.token_hex(20),  # 40 alphanumeric characters, as the sample
            }
        )
        path = INITIALIZE_PATH.format(merchant_id=quote(self.merchant_id, safe=""), order_id=order_id)
        body = await self._call(
            "POST", path, {"dateTime": stamp, "sensitiveData": sensitive, "signature": signature}
        )
        return self.envelope.open(body.get("sensitiveData"), body.get("signature"))

    async def _complete(self, reference: str, order_id: str, request: PaymentRequest, challenge: str) -> str:
        sensitive, signature = self.envelope.seal(
            {
                "merchantId": self.merchant_id,
                "orderId": order_id,
                "currencyCode": BDT_CURRENCY_CODE,
                "amount": to_taka(request.amount),
                "challenge": challenge,  # the one from initialize's *answer*
            }
        )
        body = await self._call(
            "POST",
            COMPLETE_PATH.format(reference=quote(reference, safe="=")),
            {"sensitiveData": sensitive, "signature": signature, "merchantCallbackURL": request.callback_url},
        )
        url = body.get("callBackUrl")
        if (
            body.get("status") != "Success"
            or not isinstance(url, str)
            or not url.startswith(("https://", "http://"))
        ):
            raise ProviderError(f"Nagad did not accept the order (status {body.get('status')!r})")
        return url

    async def verify(self, reference: str) -> dict[str, Any]:
        """Nagad's own answer about one payment reference (plain JSON)."""
        if not _REFERENCE.match(reference):
            raise ProviderError("not a Nagad payment reference")
        path = VERIFY_PATH.format(reference=quote(reference, safe="="))
        return await self._retrying(
            lambda: self._call("GET", path, None, headers=VERIFY_SENDS_HEADERS), only_unsent=False
        )

    async def verified_event(self, reference: str) -> ProviderEvent:
        """Verify, check that the answer is about this merchant and reference, and make it an event.

        Amount and reference are left for settlement to compare with our payment (it records a
        mismatch in the inbox). The event id is the same whichever path asks (callback or
        reconciliation), so a payment settles once.
        """
        data = await self.verify(reference)
        status = data.get("status")
        if not isinstance(status, str) or not status:
            raise InvalidNotification("Nagad's verify answer has no status")
        if data.get("paymentRefId") not in (None, reference):
            raise InvalidNotification("Nagad's verify answer is about another payment reference")
        if data.get("merchantId") != self.merchant_id and (
            status == PAID or data.get("merchantId") is not None
        ):
            raise InvalidNotification("Nagad's verify answer is about another merchant")
        kind = _kind_of(status)
        if status in RETURNED_STATUSES:
            log_event(logger, "nagad.needs_attention", logging.WARNING, reference=reference, status=status)
        order_id = data.get("orderId")
        if kind == "payment_succeeded" and (data.get("amount") is None or not isinstance(order_id, str)):
            raise InvalidNotification("Nagad reports a success without amount or order id")
        return ProviderEvent(
            event_id=f"verify:{reference}:{status}",
            kind=kind,
            provider_payment_id=reference,
            amount=None if data.get("amount") is None else from_taka(data["amount"]),
            currency="BDT",  # Nagad settles in taka only (currencyCode 050)
            reference=payment_id_for(order_id) if isinstance(order_id, str) else None,
        )

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        try:
            return await self.verified_event(provider_payment_id)
        except InvalidNotification as error:
            # Reconciliation stops on nothing but ProviderError: an answer we refuse is one.
            raise ProviderError(str(error)) from error

    async def cancel_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """Nagad has no way to withdraw a payment page: the shopper can still pay, and a late payment
        is refunded. What verify says now is all there is."""
        return await self.query_payment(provider_payment_id, payment_id)

    # Refunds ----------------------------------------------------------------------------------
    async def refund(self, request: RefundRequest) -> RefundResult:
        """Purchase cancel [SECONDARY/UNCONFIRMED, see CANCEL_*]: full or partial, after verify.

        Sent once: Nagad is not known to deduplicate cancels, so only a request that surely never
        left is repeated; any other failure stays pending for `query_refund` to settle.
        """
        if request.currency.upper() != "BDT":
            raise ProviderError(f"Nagad refunds BDT only, not {request.currency}")
        paid = await self.verify(request.provider_payment_id)
        if paid.get("status") not in REFUNDABLE_STATUSES or paid.get("merchantId") != self.merchant_id:
            raise ProviderError(f"Nagad payment is {paid.get('status')!r}: nothing to refund")
        order_id = str(paid.get("orderId") or "")
        try:
            payload = self._cancel_payload(request, paid, order_id)
        except InvalidNotification as error:
            raise ProviderError(str(error)) from error
        sensitive, signature = self.envelope.seal(payload)
        query = {"paymentRefId": request.provider_payment_id, "orderId": order_id}
        path = f"{CANCEL_PATH}?{urlencode({name: query[name] for name in CANCEL_QUERY})}"
        body = await self._retrying(
            lambda: self._call("POST", path, {CANCEL_SENSITIVE_FIELD: sensitive, "signature": signature}),
            only_unsent=True,
        )
        try:
            answer = self.envelope.open(body.get("sensitiveData"), body.get("signature"))
        except ProviderError as error:
            # The cancel may have happened all the same: unknown, so pending, never "failed".
            raise ProviderError(str(error), retryable=True) from error
        if answer.get("status") not in CANCEL_SUCCESS_STATUSES:
            raise ProviderError(f"Nagad refused the refund (status {answer.get('status')!r})")
        answered = answer.get("cancelAmount")
        if answered is not None and _poisha_or_none(answered) != request.amount:
            # Money moved, but not as asked: left pending (retryable) for a person to reconcile.
            log_event(logger, "nagad.refund_amount_differs", logging.WARNING, refund_id=request.refund_id)
            raise ProviderError("Nagad cancelled another amount than asked", retryable=True)
        trx = answer.get("cancelTrxId")
        return RefundResult(provider_refund_id=str(trx or payload["referenceNo"]), state="succeeded")

    def _cancel_payload(
        self, request: RefundRequest, paid: Mapping[str, Any], order_id: str
    ) -> dict[str, Any]:
        ordered_at = str(paid.get("orderDateTime") or "")
        payload: dict[str, Any] = {
            "merchantId": self.merchant_id,
            # Ymd of the original payment; verify writes it as "2021-08-25 14:51:35.0".
            "originalRequestDate": re.sub(r"\D", "", ordered_at)[:8],
            "originalAmount": to_taka(from_taka(paid.get("amount"))),
            "cancelAmount": to_taka(request.amount),
            "referenceNo": order_id_for(request.refund_id),
            "referenceMessage": "",
        }
        if CANCEL_ORDER_ID_IN_SENSITIVE_DATA:
            payload["orderId"] = order_id
        # The message is what gives way when the 245-byte RSA block would overflow.
        message = _short_ascii(request.reason, 100) or "Refund"
        while message and not self.envelope.fits({**payload, "referenceMessage": message}):
            message = message[:-1]
        payload["referenceMessage"] = message
        return payload

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult:
        """A refund left pending (its answer was lost), judged from verify [UNCONFIRMED semantics].

        Nothing cancelled at all → it never happened (failed; an operator may ask again).
        Fully cancelled → the money is back (succeeded). Partly cancelled → which cancel it was
        cannot be told from verify: stays pending and is logged for a person to check.
        """
        if provider_refund_id:
            return RefundResult(provider_refund_id=provider_refund_id, state="succeeded")
        data = await self.verify(request.provider_payment_id)
        status = data.get("status")
        reference = order_id_for(request.refund_id)
        state: RefundState = "pending"
        if status == PAID and not data.get("cancelIssuerRefNo"):
            state = "failed"
        elif status in FULLY_RETURNED_STATUSES:
            state = "succeeded"
        else:
            log_event(logger, "nagad.refund_needs_attention", logging.WARNING, refund_id=request.refund_id)
        return RefundResult(provider_refund_id=str(data.get("cancelIssuerRefNo") or reference), state=state)

    async def aclose(self) -> None:
        await self.http.aclose()

    # Transport --------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {
            "X-KM-Api-Version": API_VERSION,
            "X-KM-IP-V4": FALLBACK_CLIENT_IP,
            "X-KM-Client-Type": CLIENT_TYPE,
        }
        if SEND_MERCHANT_ID_HEADER:
            headers["X-KM-MC-Id"] = self.merchant_id
        return headers

    async def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        body: Mapping[str, Any] | None,
        *,
        headers: bool = True,
    ) -> dict[str, Any]:
        try:
            response = await self.http.request(
                method, path, json=body, headers=self._headers() if headers else None
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise _NotSent(f"Nagad unreachable: {type(error).__name__}", retryable=True) from error
        except httpx.HTTPError as error:
            raise ProviderError(f"Nagad call failed: {type(error).__name__}", retryable=True) from error
        return _json_of(response)

    async def _retrying(self, call: Callable[[], Awaitable[T]], *, only_unsent: bool) -> T:
        """Repeat a call that failed in a way worth repeating, at most `max_retries` times."""
        attempt = 0
        while True:
            try:
                return await call()
            except ProviderError as error:
                worth_it = isinstance(error, _NotSent) if only_unsent else error.retryable
                if not worth_it or attempt >= self.max_retries:
                    raise
            attempt += 1
            await asyncio.sleep(0.2 * 2**attempt)


def _json_of(response: httpx.Response) -> dict[str, Any]:
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
        reason = _short_ascii(str(body.get("reason", response.status_code)), 80)
        message = _short_ascii(str(body.get("message", "")), 200)
        raise ProviderError(f"Nagad refused: {reason}: {message}")
    return body


def create(settings: PaymentSettings, db: Database) -> NagadProvider:
    """The provider from the settings; a Nagad without its keys refuses to start (named here)."""
    secret = settings.nagad_merchant_private_key
    missing = [
        name
        for name, value in (
            ("NAGAD_MERCHANT_ID", settings.nagad_merchant_id),
            ("NAGAD_MERCHANT_PRIVATE_KEY", secret.get_secret_value() if secret else ""),
            ("NAGAD_PUBLIC_KEY", settings.nagad_public_key),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"the nagad provider is enabled but {', '.join(missing)} is not set")
    assert secret is not None
    envelope = Envelope(
        load_private_key(secret.get_secret_value()), load_public_key(settings.nagad_public_key)
    )
    return NagadProvider(
        base_url=settings.nagad_base_url,
        merchant_id=settings.nagad_merchant_id,
        envelope=envelope,
        timeout_seconds=settings.provider_timeout_seconds,
        max_retries=settings.provider_max_retries,
    )


# --- The browser callback ------------------------------------------------------------------------


async def confirm_callback(
    ctx: PaymentContext, reference: str, hinted_status: str | None, hinted_order: str | None
) -> Document:
    """Nagad sent the shopper back: ask verify (never the query string) and settle what it says."""
    reference = reference.replace(" ", "+")  # a '+' of base64 that arrived unescaped
    payment = (
        await payments.find_by_provider_payment(ctx.db, "nagad", reference)
        if _REFERENCE.match(reference)
        else None
    )
    if payment is None:
        raise PaymentNotFound("No Nagad payment with this payment_ref_id.")
    if payment["status"] in SETTLED:
        return payment  # nothing left to confirm: no call to Nagad for a replayed callback
    provider = ctx.provider("nagad")
    assert isinstance(provider, NagadProvider)
    try:
        event = await provider.verified_event(reference)
    except (ProviderError, InvalidNotification) as error:
        # Left pending: reconciliation asks again later.
        log_event(
            logger,
            "nagad.callback_unverified",
            logging.WARNING,
            payment_id=str(payment["_id"]),
            error=str(error)[:200],
        )
        return payment
    outcome = await settle(ctx, "nagad", event)
    log_event(
        logger,
        "nagad.callback_verified",
        payment_id=str(payment["_id"]),
        hinted_status=_short_ascii(hinted_status or "", 40),
        hinted_order_matches=hinted_order is None or payment_id_for(hinted_order) == str(payment["_id"]),
        kind=event.kind,
        outcome=outcome,
    )
    return await payments.find_payment(ctx.db, payment["_id"]) or payment


router = APIRouter(prefix="/api/v1/payments/callbacks", tags=["payments"])


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


_CALLBACK_ROUTE: dict[str, Any] = {
    "response_model": None,
    "status_code": 303,
    "summary": "Nagad sends the shopper back here (verified with Nagad, then settled)",
    "responses": {200: {"description": "With `Accept: application/json`: `{payment_id, status}`"}},
}


# Nagad redirects with a GET; POST is accepted too (API.md), as a separate operation in OpenAPI.
@router.get("/nagad", operation_id="nagad_callback", **_CALLBACK_ROUTE)
@router.post("/nagad", operation_id="nagad_callback_post", **_CALLBACK_ROUTE)
async def nagad_callback(
    request: Request,
    ctx: Context,
    payment_ref_id: Annotated[str, Query(min_length=1, max_length=256)],
    status: Annotated[str | None, Query(max_length=64)] = None,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A browser (303 to the SPA's result page) or a script (`Accept: application/json`, 200 with
    the payment's id and status). The query's status and order id are hints, never believed."""
    payment = await confirm_callback(ctx, payment_ref_id, status, order_id)
    result = {"payment_id": str(payment["_id"]), "status": payment["status"]}
    if _wants_json(request):
        return JSONResponse(result)
    return RedirectResponse(
        f"{ctx.settings.public_base_url}/payment-result?{urlencode(result)}", status_code=303
    )
