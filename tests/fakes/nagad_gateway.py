"""The fake Nagad's state and rules (tests/fakes/nagad_server.py serves them over HTTP): its keys and
cryptography, orders, cancels, faults and configuration, written independently of the client
(nothing imported from `services`) so a mistake on one side is not mirrored on the other.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict

DHAKA = timezone(timedelta(hours=6))
API_VERSION = "v-0.2.0"
# The client types Nagad's guide v3.3 lists.
CLIENT_TYPES = frozenset({"PC_WEB", "MOBILE_WEB", "MOBILE_APP", "WALLET_WEB_VIEW", "BILL_KEY"})
IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
AMOUNT = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
Route = Literal["initialize", "complete", "verify", "cancel", "any"]
# hang: wait, then do the work (the client may have given up); slow: do the work, then wait;
# signed_status: do the work, answer a signed body whose status is `answer`.
FaultKind = Literal["error", "hang", "slow", "waf", "reason", "bad_signature", "signed_status"]
Algorithm = Literal["SHA256", "SHA1"]
WAF_PAGE = (
    "<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. "
    "Please consult with your administrator.<br><br>Your support ID is: 1234567890123456789</body></html>"
)


class NagadError(Exception):
    """A refusal, rendered the way Nagad's clients expect it: {"reason", "message"}."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


@dataclass
class Cancel:
    reference_no: str
    amount: str
    trx_id: str
    at: str


@dataclass
class Order:
    reference: str
    order_id: str
    challenge: str
    ordered_at: datetime
    status: str = "OrderInitiated"
    amount: str | None = None
    reported_amount: str | None = None  # what verify says, when a test wants it to lie
    callback_url: str | None = None
    additional_info: str | None = None
    completed_with: str | None = None
    issuer_ref: str | None = None
    paid_at: datetime | None = None
    cancels: list[Cancel] = field(default_factory=list)
    client_ips: dict[str, str] = field(default_factory=dict)  # X-KM-IP-V4, by route


@dataclass
class Fault:
    route: Route
    kind: FaultKind
    remaining: int
    seconds: float = 5.0
    status: int = 503
    reason: str = "ServerError"
    answer: str = "Processing"


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: Route = "any"
    kind: FaultKind
    count: int = 1
    seconds: float = 5.0
    status: int = 503
    reason: str = "ServerError"
    answer: str = "Processing"


class Config(BaseModel):
    """How this Nagad behaves where the sources leave it open."""

    model_config = ConfigDict(extra="forbid")
    signature_algorithm: Algorithm | None = None  # None: requests either way, answers SHA-256
    refund_request_date: Literal["either", "original", "today"] = "either"
    order_date_time: Literal["set", "null"] = "set"  # verify's orderDateTime
    refund_statuses: Literal["cancelled", "refunded"] = "cancelled"


class OrderedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days_ago: int


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    amount: str | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _stamp(moment: datetime, fmt: str = "%Y%m%d%H%M%S") -> str:
    return moment.astimezone(DHAKA).strftime(fmt)


def _money(value: object) -> Decimal:
    if not isinstance(value, str) or not AMOUNT.match(value):
        raise NagadError("InvalidPurchaseInformation", f"Invalid amount {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as error:
        raise NagadError("InvalidPurchaseInformation", f"Invalid amount {value!r}") from error


def _plain(amount: Decimal) -> str:
    """Nagad writes whole amounts without decimals ("5"), others as given ("50.55")."""
    return format(amount.normalize(), "f")


class Gateway:
    """The gateway's state: keys, orders by reference, faults and counters."""

    def __init__(
        self,
        merchant_id: str,
        merchant_key: rsa.RSAPublicKey,
        gateway_key: rsa.RSAPrivateKey,
        tolerance_seconds: float,
        max_order_id_length: int,
    ) -> None:
        self.merchant_id = merchant_id
        self.merchant_key = merchant_key
        self.gateway_key = gateway_key
        self.tolerance = timedelta(seconds=tolerance_seconds)
        self.max_order_id_length = max_order_id_length
        self.orders: dict[str, Order] = {}
        self.by_order_id: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.counters: Counter[str] = Counter()
        self.config = Config()

    # Cryptography: the real gateway's side of §3.3 ------------------------------------------
    def open_request(self, sensitive: object, signature: object) -> dict[str, Any]:
        if not isinstance(sensitive, str) or not isinstance(signature, str):
            raise NagadError("InvalidApiRequest", "sensitiveData and signature are required")
        try:
            plain = self.gateway_key.decrypt(base64.b64decode(sensitive, validate=True), padding.PKCS1v15())
        except (ValueError, binascii.Error) as error:
            raise NagadError("DecryptionError", "Could not decrypt sensitive data") from error
        if not self._signed_by_merchant(plain, signature):
            raise NagadError("SignatureVerificationFailed", "Signature verification failed")
        try:
            data = json.loads(plain)
        except ValueError as error:
            raise NagadError("EncodingError", "Sensitive data is not JSON") from error
        if not isinstance(data, dict):
            raise NagadError("EncodingError", "Sensitive data is not a JSON object")
        return data

    def _signed_by_merchant(self, plain: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
        except binascii.Error:
            return False
        for algorithm in self._algorithms():
            try:
                self.merchant_key.verify(raw, plain, padding.PKCS1v15(), algorithm)
            except InvalidSignature:
                continue
            return True
        return False

    def _algorithms(self) -> list[hashes.HashAlgorithm]:
        """What requests may be signed with: SHA-256 (every sample) or SHA-1 (the guide), or the one set."""
        known: dict[Algorithm, hashes.HashAlgorithm] = {"SHA256": hashes.SHA256(), "SHA1": hashes.SHA1()}  # noqa: S303 - Nagad's scheme
        chosen = self.config.signature_algorithm
        return [known[chosen]] if chosen else list(known.values())

    def seal(self, route: Route, payload: dict[str, Any]) -> dict[str, str]:
        plain = json.dumps(payload, separators=(",", ":")).encode()
        encrypted = self.merchant_key.encrypt(plain, padding.PKCS1v15())
        signature = self.gateway_key.sign(plain, padding.PKCS1v15(), self._algorithms()[0])
        if self._take(route, signing=True) is not None:
            signature = bytes([signature[0] ^ 0xFF]) + signature[1:]
        return {"sensitiveData": _b64(encrypted), "signature": _b64(signature)}

    # Faults ----------------------------------------------------------------------------------
    def _take(self, route: Route, *, signing: bool) -> Fault | None:
        """The first pending fault for this route: a bad signature when signing, any other when called."""
        for fault in self.faults:
            if fault.route not in (route, "any") or (fault.kind == "bad_signature") != signing:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)
            return fault
        return None

    async def intercept(self, route: Route, request: Request) -> tuple[Response | None, Fault | None]:
        """Count the call; answer it with a pending fault instead, or return the fault that applies
        once the work is done (slow, signed_status). A hang then carries on, so what the client gave
        up on still happens (the body is read first, as a real server would)."""
        self.counters[route] += 1
        await request.body()
        fault = self._take(route, signing=False)
        if fault is None:
            return None, None
        if fault.kind in ("slow", "signed_status"):
            return None, fault
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return None, None
        if fault.kind == "waf":
            return HTMLResponse(WAF_PAGE), None
        body = {"reason": fault.reason, "message": f"Simulated {fault.reason}"}
        return JSONResponse(body, status_code=fault.status), None

    # Checks ----------------------------------------------------------------------------------
    @staticmethod
    def check_headers(request: Request) -> None:
        headers = request.headers
        address = IPV4.match(headers.get("x-km-ip-v4", ""))
        if (
            headers.get("x-km-api-version") != API_VERSION
            or headers.get("x-km-client-type") not in CLIENT_TYPES
            or address is None
            or any(int(part) > 255 for part in address.groups())
        ):
            raise NagadError("InvalidApiRequest", "Missing or invalid X-KM headers")

    def check_datetime(self, value: object) -> datetime:
        try:
            moment = datetime.strptime(str(value), "%Y%m%d%H%M%S").replace(tzinfo=DHAKA)
        except ValueError as error:
            raise NagadError("InvalidApiRequest", "datetime must be yyyyMMddHHmmss") from error
        if abs(datetime.now(UTC) - moment) > self.tolerance:
            raise NagadError("InvalidApiRequest", "datetime is out of the accepted window")
        return moment

    def order(self, reference: str) -> Order:
        found = self.orders.get(reference)
        if found is None:
            raise NagadError("InvalidReferenceId", "Invalid payment reference id")
        return found

    # Operations ------------------------------------------------------------------------------
    def initialize(self, merchant_id: str, order_id: str, body: dict[str, Any]) -> dict[str, str]:
        if merchant_id != self.merchant_id:
            raise NagadError("InvalidMerchant", "Invalid merchant")
        data = self.open_request(body.get("sensitiveData"), body.get("signature"))
        stamp = body.get("dateTime", body.get("datetime"))  # the casing is unconfirmed: both
        if data.get("merchantId") != merchant_id or data.get("orderId") != order_id:
            raise NagadError("InvalidApiRequest", "merchantId/orderId differ from the path")
        if stamp is not None and stamp != data.get("datetime"):
            raise NagadError("InvalidApiRequest", "dateTime differs from the signed datetime")
        self.check_datetime(data.get("datetime"))
        if not isinstance(data.get("challenge"), str) or not data["challenge"]:
            raise NagadError("InvalidApiRequest", "challenge is required")
        if (
            not order_id.isalnum()
            or not order_id.isascii()
            or not 5 <= len(order_id) <= self.max_order_id_length
        ):
            raise NagadError("16_0006_068", "Invalid Order Id")
        if order_id in self.by_order_id:  # this fake keeps its orders for its lifetime: one day at most
            raise NagadError("16_0006_083", "Duplicate Order ID in same day")
        now = datetime.now(UTC)
        reference = _b64(
            f"{_stamp(now, '%m%d%H%M%S')}.{merchant_id}.{order_id}.{secrets.token_hex(8)}".encode()
        )
        order = Order(reference, order_id, secrets.token_hex(10), now)
        self.orders[reference], self.by_order_id[order_id] = order, reference
        return self.seal(
            "initialize",
            {"paymentReferenceId": reference, "challenge": order.challenge, "acceptDateTime": _stamp(now)},
        )

    def complete(self, reference: str, body: dict[str, Any], page_base: str) -> dict[str, str]:
        order = self.order(reference)
        data = self.open_request(body.get("sensitiveData"), body.get("signature"))
        if data.get("merchantId") != self.merchant_id or data.get("orderId") != order.order_id:
            raise NagadError("InvalidPurchaseInformation", "merchantId/orderId do not match the reference")
        if data.get("challenge") != order.challenge:
            raise NagadError("InvalidPurchaseInformation", "challenge does not match")
        if data.get("currencyCode") != "050":
            raise NagadError("InvalidCurrency", "Only BDT (050) is accepted")
        if _money(data.get("amount")) <= 0:
            raise NagadError("InvalidPurchaseInformation", "amount must be positive")
        callback = body.get("merchantCallbackURL")
        if not isinstance(callback, str) or not callback.startswith(("http://", "https://")):
            raise NagadError("InvalidApiRequest", "merchantCallbackURL is required")
        signed = json.dumps([data, callback], sort_keys=True)
        if order.completed_with not in (None, signed):
            raise NagadError("InvalidPurchaseInformation", "The order was already completed differently")
        info = body.get("additionalMerchantInfo")
        order.amount, order.callback_url, order.completed_with = data["amount"], callback, signed
        order.additional_info = None if info is None else json.dumps(info, separators=(",", ":"))
        order.status = "Ready" if order.status == "OrderInitiated" else order.status
        return {"status": "Success", "callBackUrl": f"{page_base}/check-out/{reference}"}

    def settle(self, order: Order, status: str, amount: str | None = None) -> None:
        """What the customer did on the hosted page (or a test says they did)."""
        order.status = status
        if amount is not None:
            order.reported_amount = amount
        if status == "Success" and order.issuer_ref is None:
            order.issuer_ref, order.paid_at = secrets.token_hex(4).upper(), datetime.now(UTC)

    def verify(self, reference: str) -> dict[str, Any]:
        order = self.order(reference)
        amount = order.reported_amount or order.amount
        last = order.cancels[-1] if order.cancels else None
        return {
            "merchantId": self.merchant_id,
            "orderId": order.order_id,
            "paymentRefId": reference,
            "amount": None if amount is None else _plain(Decimal(amount)),
            "clientMobileNo": "017****1234" if order.paid_at else None,
            "merchantMobileNo": "01300000000",
            "orderDateTime": (
                _stamp(order.ordered_at, "%Y-%m-%d %H:%M:%S.0")
                if self.config.order_date_time == "set"
                else None
            ),
            "issuerPaymentDateTime": _stamp(order.paid_at, "%Y-%m-%d %H:%M:%S.0") if order.paid_at else None,
            "issuerPaymentRefNo": order.issuer_ref,
            "additionalMerchantInfo": order.additional_info,
            "status": order.status,
            "statusCode": "000" if order.status == "Success" else "001",
            "cancelIssuerDateTime": last.at if last else None,
            "cancelIssuerRefNo": last.trx_id if last else None,
        }

    def cancel(
        self, reference: str | None, order_id: str | None, body: dict[str, Any], answer: str | None = None
    ) -> dict[str, str]:
        reference = reference or self.by_order_id.get(order_id or "")
        order = self.order(reference or "")
        if order_id is not None and order_id != order.order_id:
            raise NagadError("InvalidOrderId", "orderId does not match the reference")
        data = self.open_request(body.get("sensitiveDataCancelRequest"), body.get("signature"))
        if data.get("merchantId") != self.merchant_id:
            raise NagadError("InvalidMerchant", "Invalid merchant")
        if order.status not in ("Success", "PartialCancelled", "PartialRefunded") or order.amount is None:
            raise NagadError("InvalidPurchaseInformation", f"A {order.status} payment cannot be cancelled")
        original = Decimal(order.reported_amount or order.amount)  # what Nagad holds, as verify says
        if _money(data.get("originalAmount")) != original:
            raise NagadError("InvalidPurchaseInformation", "originalAmount does not match")
        self.check_request_date(order, data.get("originalRequestDate"))
        amount = _money(data.get("cancelAmount"))
        left = original - sum((Decimal(done.amount) for done in order.cancels), Decimal(0))
        if amount <= 0 or amount > left:
            raise NagadError("InvalidPurchaseInformation", f"cancelAmount must be within {left}")
        if not isinstance(data.get("referenceNo"), str) or not data["referenceNo"]:
            raise NagadError("InvalidApiRequest", "referenceNo is required")
        trx = secrets.token_hex(5).upper()
        order.cancels.append(
            Cancel(data["referenceNo"], data["cancelAmount"], trx, _stamp(datetime.now(UTC)))
        )
        full, partial = (
            ("Cancelled", "PartialCancelled")
            if self.config.refund_statuses == "cancelled"
            else ("Refunded", "PartialRefunded")
        )
        order.status = full if amount == left else partial
        signed = {
            "status": answer or order.status,
            "originalAmount": _plain(original),
            "cancelAmount": _plain(amount),
            "cancelTrxId": trx,
        }
        return self.seal("cancel", signed)

    def check_request_date(self, order: Order, value: object) -> None:
        """`originalRequestDate` (Ymd, Asia/Dhaka): the payment's day, or today's (sources differ)."""
        accepted = {
            "original": {_stamp(order.ordered_at, "%Y%m%d")},
            "today": {_stamp(datetime.now(UTC), "%Y%m%d")},
        }
        rule = self.config.refund_request_date
        allowed = accepted["original"] | accepted["today"] if rule == "either" else accepted[rule]
        if value not in allowed:
            raise NagadError("InvalidPurchaseInformation", "originalRequestDate does not match")

    def note_ip(self, order: Order, route: Route, request: Request) -> None:
        if (address := request.headers.get("x-km-ip-v4")) is not None:
            order.client_ips[route] = address
