"""A fake Nagad payment gateway (merchant checkout, API "v-0.2.0") for tests, after Nagad's guide.

It speaks the protocol as the real gateway does, cryptography included, and written independently
of the client (nothing imported from `services`), so a mistake on one side is not mirrored on the
other:

* it holds the gateway's RSA key pair and the merchant's public key; requests' `sensitiveData` is
  decrypted with the gateway key (PKCS#1 v1.5) and their `signature` verified with the merchant key
  (SHA-256, as every sample signs, or SHA-1, which Nagad's guide v3.3 names); signed answers are
  encrypted for the merchant and signed by the gateway (SHA-256, or the one algorithm a test sets);
* initialize checks the X-KM headers, merchant id, order id (alphanumeric, 5 to 20 characters, else
  `16_0006_068`; once a day, else `16_0006_083 Duplicate Order ID in same day`, as the guide lists
  them) and the request's Asia/Dhaka `datetime` freshness; complete checks the challenge echo,
  currency 050 and the amount; the hosted page `/check-out/{ref}` lets the "customer" pay or abort
  and redirects to the merchant callback; verify answers plain JSON (its `orderDateTime` may be
  `null`, as the guide's own example shows); purchase cancel refunds fully or partly and answers
  `Cancelled`/`PartialCancelled` (or `Refunded`/`PartialRefunded`) with the `cancelTrxId`,
  `cancelAmount` and `originalAmount`, as a maintained client reads it;
* every call's `X-KM-IP-V4` is kept per order, so tests can see whose address Nagad was told;
* errors are Nagad-style `{"reason", "message"}` bodies.

Test control (never part of Nagad): `/__control/payments/{ref}[/status|/ordered]`, `/__control/faults`
(the next N calls answer 5xx, hang before or after doing the work, a WAF HTML page, a refusal, a bad
signature, or a signed answer with another status), `/__control/config` (one signature algorithm,
which `originalRequestDate` is accepted, a null `orderDateTime`, refund statuses),
`/__control/counters`, `/__control/reset`; `GET /__health`.

Run: python -m tests.fakes.nagad_server --port N --merchant-id M \
         --merchant-public-key-file F --gateway-private-key-file G [--prefix /api/dfs]
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tests.fakes.nagad_gateway import (
    Config,
    Fault,
    FaultIn,
    Gateway,
    NagadError,
    OrderedIn,
    StatusIn,
)


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

    async def answered(later: Fault | None, answer: dict[str, Any]) -> Response:
        """The answer, after a slow fault's wait (the work is done: the client may have given up)."""
        if later is not None and later.kind == "slow":
            await asyncio.sleep(later.seconds)
        return JSONResponse(answer)

    @app.post(prefix + "/check-out/initialize/{merchant_id}/{order_id}")
    async def initialize(merchant_id: str, order_id: str, request: Request) -> Response:
        faulted, later = await gateway.intercept("initialize", request)
        if faulted is not None:
            return faulted
        gateway.check_headers(request)
        answer = gateway.initialize(merchant_id, order_id, await _json_body(request))
        gateway.note_ip(gateway.order(gateway.by_order_id[order_id]), "initialize", request)
        return await answered(later, answer)

    @app.post(prefix + "/check-out/complete/{reference:path}")
    async def complete(reference: str, request: Request) -> Response:
        faulted, later = await gateway.intercept("complete", request)
        if faulted is not None:
            return faulted
        gateway.check_headers(request)
        page = str(request.base_url).rstrip("/")
        answer = gateway.complete(reference, await _json_body(request), page)
        gateway.note_ip(gateway.order(reference), "complete", request)
        return await answered(later, answer)

    @app.get(prefix + "/verify/payment/{reference:path}")
    async def verify(reference: str, request: Request) -> Response:
        # The official callback sample sends verify without any X-KM header: none required.
        faulted, later = await gateway.intercept("verify", request)
        if faulted is not None:
            return faulted
        answer = gateway.verify(reference)
        gateway.note_ip(gateway.order(reference), "verify", request)
        return await answered(later, answer)

    @app.post(prefix + "/purchase/cancel")
    async def cancel(request: Request) -> Response:
        faulted, later = await gateway.intercept("cancel", request)
        if faulted is not None:
            return faulted
        gateway.check_headers(request)
        query = request.query_params
        status = later.answer if later is not None and later.kind == "signed_status" else None
        answer = gateway.cancel(
            query.get("paymentRefId"), query.get("orderId"), await _json_body(request), status
        )
        reference = query.get("paymentRefId") or gateway.by_order_id.get(query.get("orderId") or "", "")
        gateway.note_ip(gateway.order(reference), "cancel", request)
        return await answered(later, answer)

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

    @app.post("/__control/payments/{reference:path}/ordered")
    async def set_ordered(reference: str, body: OrderedIn) -> dict[str, Any]:
        """Move when the order was initialized (its orderDateTime) some days back."""
        order = gateway.order(reference)
        order.ordered_at -= timedelta(days=body.days_ago)
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
            Fault(body.route, body.kind, body.count, body.seconds, body.status, body.reason, body.answer)
        )
        return {"pending": len(gateway.faults)}

    @app.post("/__control/config")
    async def configure(body: Config) -> dict[str, Any]:
        gateway.config = body
        return body.model_dump()

    @app.get("/__control/counters")
    async def counters() -> dict[str, int]:
        return dict(gateway.counters)

    @app.post("/__control/reset")
    async def reset() -> dict[str, str]:
        gateway.faults.clear()
        gateway.counters.clear()
        gateway.config = Config()
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
    # Nagad's guide v3.3: an order id is alphanumeric, 5 to 20 characters.
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
