"""A local bKash Tokenized Checkout for tests: `python -m tests.fakes.bkash_server --port N`.

It follows bKash's tokenized checkout API as its integrations show it:

* v1.2.0-beta under `/v1.2.0-beta/tokenized/checkout/`: `token/grant`, `token/refresh` (headers
  `username`/`password`, body `app_key`/`app_secret`), `create` (mode 0011), `execute` (one-shot),
  `payment/status`, `general/searchTransaction`; v2 under `/v2/tokenized-checkout/`:
  `auth/grant-token`, `auth/refresh-token`, `refund/payment/transaction`, `refund/payment/status`.
* Credentials come from argv (`--app-key --app-secret --username --password`; random when absent).
  Other calls need `Authorization: <id_token>` (a `Bearer ` prefix is accepted too) and
  `X-APP-Key`; otherwise HTTP 401 `{"message":"Unauthorized"}`. id_tokens expire after
  `--token-ttl` seconds, refresh tokens after `--refresh-ttl`.
* Business errors are HTTP 200 `{"statusCode","statusMessage"}` (grant: the legacy
  `{"errorCode","errorMessage"}`); v2 errors are `{"internalCode","externalCode","errorMessageEn",
  "errorMessageBn"}` with HTTP `--v2-error-status` (400). Codes: 2001 app key, 2002 payment id,
  2006 amount, 2007 currency, 2008 intent, 2023 insufficient balance, 2025 body, 2026 refund above
  what remains, 2029 duplicate invoice, 2031 invoice, 2033 transaction not found, 2034 already
  refunded, 2048 payer reference, 2049 callback URL, 2056 payment state, 2062 already completed
  (`--already-completed-code`), 2063 mode, 2065 mandatory field.
* Payments: create -> `Initiated` with a `bkashURL` to the fake "bKash page"
  (`/redirect/tokenized/?paymentID&hash&mode&apiVersion`), where the shopper approves, fails or
  cancels (`/redirect/tokenized/decide?...&choice=approve|fail|cancel[&wallet=01…]`), which records
  the choice and redirects to `callbackURL?paymentID=…&status=success|failure|cancel&apiVersion=…`.
  Money moves only on execute (approved -> `Completed` with a trxID; not approved -> 2056; wallet
  or payerReference `01823074817` -> 2023 and `Failed`). fail -> `Failed`, cancel -> `Cancelled`
  (bKash's public material does not confirm those names).
* Refunds: partial until nothing remains; the refund's answer echoes `sku` and `reason`, but refund
  status lists each refund with only `refundTrxId`, `refundTransactionStatus`, `refundAmount` and
  `completedTime`, as bKash's v2 refund documentation and its maintained clients show it.

Test controls (no auth), under `/__control/`:
`GET calls` (calls per endpoint), `GET payments/{id}` (state, execute count, refunds),
`POST payments/{id}/customer {"choice","wallet"?}` (the shopper's decision; answers the callback URL
the browser is sent to), `POST faults {"endpoint","kind","count","seconds"}` / `DELETE faults`
(kinds: `hang` = wait then process, `slow` = process then wait, `maintenance` = statusCode 503,
`http503`, `http401`, `empty` = process and answer an empty body),
`POST revoke-tokens`, `POST token-ttl {"seconds"}`. `GET /__health` answers once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tests.fakes.bkash_bank import V1, V2, Bank, Body, BusinessError, Config, Fault


def unauthorized() -> JSONResponse:
    return JSONResponse({"message": "Unauthorized"}, status_code=401)


def create_app(config: Config) -> FastAPI:
    app = FastAPI(title="fake bKash", openapi_url=None)
    state = Bank(config)
    app.state.bkash = state

    async def serve(
        endpoint: str,
        request: Request,
        handle: Callable[[Body], Body],
        *,
        auth: Literal["credentials", "token"],
        v2: bool = False,
    ) -> Response:
        """Count, apply a pending fault, authenticate, then answer like bKash (errors as HTTP 200)."""
        state.calls[endpoint] += 1
        fault = state.next_fault(endpoint)
        if fault is not None and fault.kind == "http401":
            return unauthorized()
        if fault is not None and fault.kind == "http503":
            return Response("<html><body>Service Unavailable</body></html>", 503, media_type="text/html")
        if fault is not None and fault.kind == "maintenance":
            return JSONResponse(
                {
                    "statusCode": "503",
                    "statusMessage": "System is undergoing maintenance. Please try again later",
                }
            )
        if auth == "token" and not state.token_valid(request):
            return unauthorized()
        try:
            body = await request.json()
        except ValueError:
            body = None

        def answer() -> Response:
            try:
                if not isinstance(body, dict):
                    raise BusinessError("2025", "Invalid request body")
                return JSONResponse(handle(body))
            except BusinessError as error:
                return error_response(error, v2=v2)

        if fault is not None and fault.kind == "hang":
            # The client may give up meanwhile: the call is still processed afterwards, as a slow
            # bKash would, so run it outside the request.
            return await later(fault.seconds, answer)
        response = answer()
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "empty":
            return Response(b"", 200, media_type="application/json")
        return response

    async def later(seconds: float, work: Callable[[], Response]) -> Response:
        async def run() -> Response:
            await asyncio.sleep(seconds)
            return work()

        task = asyncio.create_task(run())
        state.background.add(task)
        task.add_done_callback(state.background.discard)
        return await asyncio.shield(task)

    def error_response(error: BusinessError, *, v2: bool) -> JSONResponse:
        if v2:
            return JSONResponse(
                {
                    "internalCode": f"ETC7{error.code.zfill(4)}",
                    "externalCode": error.code,
                    "errorMessageEn": error.message,
                    "errorMessageBn": "",
                },
                status_code=config.v2_error_status,
            )
        return JSONResponse({"statusCode": error.code, "statusMessage": error.message})

    # --- tokens --------------------------------------------------------------------------------------

    async def token_endpoint(endpoint: str, request: Request, refresh: bool) -> Response:
        state.calls[endpoint] += 1
        fault = state.next_fault(endpoint)
        if fault is not None and fault.kind in ("hang", "slow"):
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "http401":
            return unauthorized()
        if fault is not None and fault.kind == "maintenance":
            return JSONResponse({"statusCode": "503", "statusMessage": "System is undergoing maintenance"})
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not state.credentials_ok(request, body):
            # Legacy envelope, as older bKash errors use it.
            return JSONResponse({"errorCode": "2001", "errorMessage": "Invalid App Key"})
        if not refresh:
            return JSONResponse(state.issue_tokens())
        refresh_token = str(body.get("refresh_token", ""))
        expiry = state.refresh_tokens.get(refresh_token)
        if expiry is None or expiry <= time.monotonic():
            return JSONResponse({"statusCode": "2001", "statusMessage": "Invalid refresh token"})
        return JSONResponse(state.issue_tokens(refresh_token))

    @app.post(f"{V1}/token/grant")
    @app.post(f"{V2}/auth/grant-token")
    async def grant(request: Request) -> Response:
        return await token_endpoint("grant", request, refresh=False)

    @app.post(f"{V1}/token/refresh")
    @app.post(f"{V2}/auth/refresh-token")
    async def refresh(request: Request) -> Response:
        return await token_endpoint("refresh", request, refresh=True)

    # --- payments ------------------------------------------------------------------------------------

    @app.post(f"{V1}/create")
    async def create(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return await serve("create", request, lambda body: state.create_payment(body, base), auth="token")

    @app.post(f"{V1}/execute")
    async def execute(request: Request) -> Response:
        return await serve("execute", request, state.execute_payment, auth="token")

    @app.post(f"{V1}/payment/status")
    async def status(request: Request) -> Response:
        return await serve("status", request, state.payment_status, auth="token")

    @app.post(f"{V1}/general/searchTransaction")
    async def search(request: Request) -> Response:
        return await serve("search", request, state.search_transaction, auth="token")

    # --- v2 refunds ----------------------------------------------------------------------------------

    @app.post(f"{V2}/refund/payment/transaction")
    async def refund(request: Request) -> Response:
        return await serve("refund", request, state.refund_payment, auth="token", v2=True)

    @app.post(f"{V2}/refund/payment/status")
    async def refund_state(request: Request) -> Response:
        return await serve("refund_status", request, state.refund_status, auth="token", v2=True)

    # --- the shopper on the "bKash page" ---------------------------------------------------------------

    @app.get("/redirect/tokenized/")
    async def page(request: Request) -> Response:
        payment = state.page_payment(request)
        if payment is None:
            return HTMLResponse("<p>Invalid payment link</p>", 404)
        links = "".join(
            f'<p><a href="decide?{urlencode({**request.query_params, "choice": choice})}">{choice}</a></p>'
            for choice in ("approve", "fail", "cancel")
        )
        return HTMLResponse(f"<h1>Pay {payment.amount} {payment.currency}</h1>{links}")

    @app.get("/redirect/tokenized/decide")
    async def page_decision(request: Request) -> Response:
        payment = state.page_payment(request)
        choice = request.query_params.get("choice", "")
        if payment is None or choice not in ("approve", "fail", "cancel"):
            return HTMLResponse("<p>Invalid payment link</p>", 404)
        return RedirectResponse(state.decide(payment, choice, request.query_params.get("wallet")), 302)

    # --- test controls ---------------------------------------------------------------------------------

    @app.get("/__health")
    async def health() -> Body:
        return {"status": "ok"}

    @app.get("/__control/calls")
    async def calls() -> Body:
        return dict(state.calls)

    @app.get("/__control/payments/{payment_id}")
    async def show_payment(payment_id: str) -> Response:
        payment = state.payments.get(payment_id)
        if payment is None:
            return JSONResponse({"detail": "unknown payment"}, 404)
        return JSONResponse(
            {
                "paymentID": payment.payment_id,
                "status": payment.status,
                "choice": payment.choice,
                "amount": payment.amount,
                "currency": payment.currency,
                "intent": payment.intent,
                "merchantInvoiceNumber": payment.invoice,
                "payerReference": payment.payer_reference,
                "callbackURL": payment.callback_url,
                "trxID": payment.trx_id,
                "execute_calls": payment.execute_calls,
                "refundable": f"{payment.refundable():.2f}",
                "refunds": [
                    {
                        "refundTrxId": r.refund_trx_id,
                        "amount": f"{r.amount:.2f}",
                        "sku": r.sku,
                        "reason": r.reason,
                    }
                    for r in payment.refunds
                ],
            }
        )

    @app.post("/__control/payments/{payment_id}/customer")
    async def customer(payment_id: str, request: Request) -> Response:
        payment = state.payments.get(payment_id)
        body = await request.json()
        if payment is None or body.get("choice") not in ("approve", "fail", "cancel"):
            return JSONResponse({"detail": "unknown payment or choice"}, 404)
        return JSONResponse({"redirect": state.decide(payment, body["choice"], body.get("wallet"))})

    @app.post("/__control/faults")
    async def add_fault(request: Request) -> Body:
        body = await request.json()
        fault = Fault(kind=body["kind"], seconds=float(body.get("seconds", 5)))
        state.faults.setdefault(body["endpoint"], deque()).extend([fault] * int(body.get("count", 1)))
        return {"endpoint": body["endpoint"], "pending": len(state.faults[body["endpoint"]])}

    @app.delete("/__control/faults")
    async def clear_faults() -> Body:
        state.faults.clear()
        return {}

    @app.post("/__control/revoke-tokens")
    async def revoke_tokens() -> Body:
        revoked = len(state.id_tokens)
        state.id_tokens.clear()
        return {"revoked": revoked}

    @app.post("/__control/token-ttl")
    async def token_ttl(request: Request) -> Body:
        state.token_ttl = float((await request.json())["seconds"])
        return {"seconds": state.token_ttl}

    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--app-key", default=None)
    parser.add_argument("--app-secret", default=None)
    parser.add_argument("--username", default=None)
    parser.add_argument("--password", default=None)
    parser.add_argument("--token-ttl", type=float, default=3600)
    parser.add_argument("--refresh-ttl", type=float, default=28 * 24 * 3600)
    parser.add_argument("--v2-error-status", type=int, default=400)
    parser.add_argument("--already-completed-code", default="2062", choices=["2062", "2117"])
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    """The credentials given, or fresh random ones (printed, since nobody else knows them)."""
    generated = {
        "app_key": args.app_key or secrets.token_hex(12),
        "app_secret": args.app_secret or secrets.token_urlsafe(24),
        "username": args.username or "merchant-" + secrets.token_hex(4),
        "password": args.password or secrets.token_urlsafe(12),
    }
    if not all((args.app_key, args.app_secret, args.username, args.password)):
        # Random per start and known to nobody else: print them so a person can use the fake by hand.
        print("fake bKash credentials:", generated, flush=True)
    return Config(
        token_ttl=args.token_ttl,
        refresh_ttl=args.refresh_ttl,
        v2_error_status=args.v2_error_status,
        already_completed_code=args.already_completed_code,
        **generated,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    uvicorn.run(create_app(config_from(args)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
