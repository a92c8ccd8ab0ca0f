"""A fake Nagad payment gateway (merchant checkout, API "v-0.2.0") for tests, after Nagad's guide.

It speaks the protocol as the real gateway does, cryptography included, and written independently
of the client (nothing imported from `services`), so a mistake on one side is not mirrored on the
other:

* it holds the gateway's RSA key pair and the merchant's public key; requests' `sensitiveData` is
  decrypted with the gateway key (PKCS#1 v1.5) and their `signature` verified with the merchant key
  (SHA-256, or SHA-1 which one guide claims); signed answers are encrypted for the merchant and
  signed by the gateway (SHA-256);
* initialize checks the X-KM headers, merchant id, order id (unique, alphanumeric, short) and the
  request's Asia/Dhaka `datetime` freshness; complete checks the challenge echo, currency 050 and
  the amount; the hosted page `/check-out/{ref}` lets the "customer" pay or abort and redirects to
  the merchant callback; verify answers plain JSON; purchase cancel refunds (fully or partly);
* errors are Nagad-style `{"reason", "message"}` bodies.

Test control (never part of Nagad): `/__control/payments/{ref}[/status]`, `/__control/faults`
(the next N calls answer 5xx, hang, a WAF HTML page, a refusal, or a bad signature),
`/__control/counters`, `/__control/reset`; `GET /__health`.

Run: python -m tests.fakes.nagad_server --port N --merchant-id M \
         --merchant-public-key-file F --gateway-private-key-file G [--prefix /api/dfs]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import re
import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict

DHAKA = timezone(timedelta(hours=6))
API_VERSION = "v-0.2.0"
CLIENT_TYPES = frozenset({"PC_WEB", "MOBILE_WEB", "MOBILE_APP"})
IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
AMOUNT = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
Route = Literal["initialize", "complete", "verify", "cancel", "any"]
FaultKind = Literal["error", "hang", "waf", "reason", "bad_signature"]
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


@dataclass
class Fault:
    route: Route
    kind: FaultKind
    remaining: int
    seconds: float = 5.0
    status: int = 503
    reason: str = "ServerError"


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: Route = "any"
    kind: FaultKind
    count: int = 1
    seconds: float = 5.0
    status: int = 503
    reason: str = "ServerError"


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
        for algorithm in (hashes.SHA256(), hashes.SHA1()):  # noqa: S303 - one guide claims SHA1withRSA
            try:
                self.merchant_key.verify(raw, plain, padding.PKCS1v15(), algorithm)
            except InvalidSignature:
                continue
            return True
        return False

    def seal(self, route: Route, payload: dict[str, Any]) -> dict[str, str]:
        plain = json.dumps(payload, separators=(",", ":")).encode()
        encrypted = self.merchant_key.encrypt(plain, padding.PKCS1v15())
        signature = self.gateway_key.sign(plain, padding.PKCS1v15(), hashes.SHA256())
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

    async def intercept(self, route: Route, request: Request) -> Response | None:
        """Count the call; answer it with a pending fault instead. A hang then carries on, so what
        the client gave up on still happens (the body is read first, as a real server would)."""
        self.counters[route] += 1
        await request.body()
        fault = self._take(route, signing=False)
        if fault is None:
            return None
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "waf":
            return HTMLResponse(WAF_PAGE)
        return JSONResponse(
            {"reason": fault.reason, "message": f"Simulated {fault.reason}"}, status_code=fault.status
        )

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
        if not order_id.isalnum() or not order_id.isascii() or len(order_id) > self.max_order_id_length:
            raise NagadError("InvalidOrderId", "Invalid order id")
        if order_id in self.by_order_id:
            raise NagadError("DuplicateOrderId", "Duplicate order id")
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
            "orderDateTime": _stamp(order.ordered_at, "%Y-%m-%d %H:%M:%S.0"),
            "issuerPaymentDateTime": _stamp(order.paid_at, "%Y-%m-%d %H:%M:%S.0") if order.paid_at else None,
            "issuerPaymentRefNo": order.issuer_ref,
            "additionalMerchantInfo": order.additional_info,
            "status": order.status,
            "statusCode": "000" if order.status == "Success" else "001",
            "cancelIssuerDateTime": last.at if last else None,
            "cancelIssuerRefNo": last.trx_id if last else None,
        }

    def cancel(self, reference: str | None, order_id: str | None, body: dict[str, Any]) -> dict[str, str]:
        reference = reference or self.by_order_id.get(order_id or "")
        order = self.order(reference or "")
        if order_id is not None and order_id != order.order_id:
            raise NagadError("InvalidOrderId", "orderId does not match the reference")
        data = self.open_request(body.get("sensitiveDataCancelRequest"), body.get("signature"))
        if data.get("merchantId") != self.merchant_id:
            raise NagadError("InvalidMerchant", "Invalid merchant")
        if order.status not in ("Success", "PartialCancelled") or order.amount is None:
            raise NagadError("InvalidPurchaseInformation", f"A {order.status} payment cannot be cancelled")
        original = Decimal(order.reported_amount or order.amount)  # what Nagad holds, as verify says
        if _money(data.get("originalAmount")) != original:
            raise NagadError("InvalidPurchaseInformation", "originalAmount does not match")
        if data.get("originalRequestDate") != _stamp(order.ordered_at, "%Y%m%d"):
            raise NagadError("InvalidPurchaseInformation", "originalRequestDate does not match")
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
        order.status = "Cancelled" if amount == left else "PartialCancelled"
        answer = {
            "status": "Success",
            "code": "000",
            "originalAmount": _plain(original),
            "cancelAmount": _plain(amount),
            "cancelTrxId": trx,
        }
        return self.seal("cancel", answer)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise NagadError("InvalidApiRequest", "The body must be JSON") from error
    if not isinstance(body, dict):
        raise NagadError("InvalidApiRequest", "The body must be a JSON object")
    return body


def build_app(gateway: Gateway, prefix: str) -> FastAPI:
    app = FastAPI(title="Fake Nagad")

    @app.exception_handler(NagadError)
    async def refused(request: Request, error: NagadError) -> Response:
        return JSONResponse({"reason": error.reason, "message": error.message}, status_code=error.status)

    @app.get("/__health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(prefix + "/check-out/initialize/{merchant_id}/{order_id}")
    async def initialize(merchant_id: str, order_id: str, request: Request) -> Response:
        if (faulted := await gateway.intercept("initialize", request)) is not None:
            return faulted
        gateway.check_headers(request)
        return JSONResponse(gateway.initialize(merchant_id, order_id, await _json_body(request)))

    @app.post(prefix + "/check-out/complete/{reference:path}")
    async def complete(reference: str, request: Request) -> Response:
        if (faulted := await gateway.intercept("complete", request)) is not None:
            return faulted
        gateway.check_headers(request)
        page = str(request.base_url).rstrip("/")
        return JSONResponse(gateway.complete(reference, await _json_body(request), page))

    @app.get(prefix + "/verify/payment/{reference:path}")
    async def verify(reference: str, request: Request) -> Response:
        # The official callback sample sends verify without any X-KM header: none required.
        if (faulted := await gateway.intercept("verify", request)) is not None:
            return faulted
        return JSONResponse(gateway.verify(reference))

    @app.post(prefix + "/purchase/cancel")
    async def cancel(request: Request) -> Response:
        if (faulted := await gateway.intercept("cancel", request)) is not None:
            return faulted
        gateway.check_headers(request)
        query = request.query_params
        body = await _json_body(request)
        return JSONResponse(gateway.cancel(query.get("paymentRefId"), query.get("orderId"), body))

    @app.get("/check-out/{reference:path}")
    async def hosted_page(reference: str, action: str | None = None) -> Response:
        """Nagad's payment page: `?action=pay|abort|cancel` is the customer's choice."""
        order = gateway.order(reference)
        if order.callback_url is None:
            raise NagadError("InvalidPurchaseInformation", "The order was not completed")
        if action is None:
            return HTMLResponse(
                f"<html><body><h1>Nagad</h1><p>Pay {order.amount} BDT</p>"
                f'<a href="?action=pay">Pay</a> <a href="?action=abort">Cancel</a></body></html>'
            )
        if order.status == "Ready":
            outcome = {"pay": "Success", "abort": "Aborted", "cancel": "Cancelled"}.get(action, "Aborted")
            gateway.settle(order, outcome)
        query = {
            "merchant": gateway.merchant_id,
            "order_id": order.order_id,
            "payment_ref_id": reference,
            "status": order.status,
            "status_code": "00_0000_000" if order.status == "Success" else "02_0000_000",
            "message": "Successful Transaction" if order.status == "Success" else "Transaction aborted",
        }
        return RedirectResponse(f"{order.callback_url}?{urlencode(query)}", status_code=302)

    @app.post("/__control/payments/{reference:path}/status")
    async def set_status(reference: str, body: StatusIn) -> dict[str, Any]:
        order = gateway.order(reference)
        gateway.settle(order, body.status, body.amount)
        return asdict(order)

    @app.get("/__control/payments/{reference:path}")
    async def show(reference: str) -> dict[str, Any]:
        return asdict(gateway.order(reference))

    @app.get("/__control/orders/{order_id}")
    async def show_order(order_id: str) -> dict[str, Any]:
        return asdict(gateway.order(gateway.by_order_id.get(order_id, "")))

    @app.post("/__control/faults")
    async def add_fault(body: FaultIn) -> dict[str, int]:
        gateway.faults.append(
            Fault(body.route, body.kind, body.count, body.seconds, body.status, body.reason)
        )
        return {"pending": len(gateway.faults)}

    @app.get("/__control/counters")
    async def counters() -> dict[str, int]:
        return dict(gateway.counters)

    @app.post("/__control/reset")
    async def reset() -> dict[str, str]:
        gateway.faults.clear()
        gateway.counters.clear()
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--merchant-id", required=True)
    parser.add_argument("--merchant-public-key-file", type=Path, required=True)
    parser.add_argument("--gateway-private-key-file", type=Path, required=True)
    parser.add_argument(
        "--prefix", default="/api/dfs", help="API path prefix (sandbox: /remote-payment-gateway-1.0/api/dfs)"
    )
    # How far a request's datetime may be from now [UNCONFIRMED at the real gateway].
    parser.add_argument("--datetime-tolerance-seconds", type=float, default=600)
    # Nagad's C# sample: the order id "should be less than 20 char" [SECONDARY].
    parser.add_argument("--max-order-id-length", type=int, default=20)
    args = parser.parse_args()
    merchant_key = serialization.load_pem_public_key(args.merchant_public_key_file.read_bytes())
    gateway_key = serialization.load_pem_private_key(
        args.gateway_private_key_file.read_bytes(), password=None
    )
    assert isinstance(merchant_key, rsa.RSAPublicKey)
    assert isinstance(gateway_key, rsa.RSAPrivateKey)
    gateway = Gateway(
        args.merchant_id, merchant_key, gateway_key, args.datetime_tolerance_seconds, args.max_order_id_length
    )
    uvicorn.run(
        build_app(gateway, args.prefix.rstrip("/")),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=1,  # a simulated hang must not hold up the test's shutdown
    )


if __name__ == "__main__":
    main()
