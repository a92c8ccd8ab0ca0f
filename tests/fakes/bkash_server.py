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
  (those names are UNCONFIRMED in the notes).
* Refunds: partial until nothing remains (`maxRefundableAmount` accounting); refund status lists
  every refund **with its `sku` and `reason`** (echoing sku there is UNCONFIRMED for real bKash).

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
import re
import secrets
import string
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

V1 = "/v1.2.0-beta/tokenized/checkout"
V2 = "/v2/tokenized-checkout"
INSUFFICIENT_WALLET = "01823074817"
AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
DHAKA = timedelta(hours=6)

Body = dict[str, Any]
FaultKind = Literal["hang", "slow", "maintenance", "http503", "http401", "empty"]


@dataclass(frozen=True)
class Config:
    app_key: str
    app_secret: str
    username: str
    password: str
    token_ttl: float
    refresh_ttl: float
    v2_error_status: int
    already_completed_code: str


@dataclass
class Refund:
    refund_trx_id: str
    amount: Decimal
    sku: str
    reason: str
    completed_time: str


@dataclass
class Payment:
    payment_id: str
    hash: str
    amount: str
    currency: str
    intent: str
    invoice: str
    payer_reference: str
    callback_url: str
    created_time: str
    status: str = "Initiated"
    choice: str | None = None
    wallet: str | None = None
    trx_id: str | None = None
    executed_time: str | None = None
    execute_calls: int = 0
    refunds: list[Refund] = field(default_factory=list)

    def refundable(self) -> Decimal:
        return Decimal(self.amount) - sum((refund.amount for refund in self.refunds), Decimal(0))


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    seconds: float


class BusinessError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class State:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.token_ttl = config.token_ttl
        self.id_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.refresh_tokens: dict[str, float] = {}
        self.payments: dict[str, Payment] = {}
        self.calls: Counter[str] = Counter()
        self.faults: dict[str, deque[Fault]] = {}
        self.background: set[asyncio.Task[Any]] = set()

    def next_fault(self, endpoint: str) -> Fault | None:
        queue = self.faults.get(endpoint)
        return queue.popleft() if queue else None

    def issue_tokens(self, refresh_token: str | None = None) -> Body:
        id_token = secrets.token_urlsafe(32)
        self.id_tokens[id_token] = time.monotonic() + self.token_ttl
        if refresh_token is None:
            refresh_token = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh_token] = time.monotonic() + self.config.refresh_ttl
        return {
            "statusCode": "0000",
            "statusMessage": "Successful",
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl) if self.token_ttl >= 1 else self.token_ttl,
            "refresh_token": refresh_token,
        }

    def token_valid(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        expiry = self.id_tokens.get(token)
        app_key_ok = secrets.compare_digest(request.headers.get("x-app-key", ""), self.config.app_key)
        return expiry is not None and expiry > time.monotonic() and app_key_ok


def bkash_time(moment: datetime | None = None) -> str:
    """bKash's `yyyy-MM-dd'T'HH:mm:ss:SSS 'GMT'+0600`."""
    local = (moment or datetime.now(UTC)) + DHAKA
    return local.strftime("%Y-%m-%dT%H:%M:%S:") + f"{local.microsecond // 1000:03d} GMT+0600"


def new_id(prefix: str, length: int) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def unauthorized() -> JSONResponse:
    return JSONResponse({"message": "Unauthorized"}, status_code=401)


def create_app(config: Config) -> FastAPI:
    app = FastAPI(title="fake bKash", openapi_url=None)
    state = State(config)
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

    def credentials_ok(request: Request, body: Body) -> bool:
        return (
            secrets.compare_digest(request.headers.get("username", ""), config.username)
            and secrets.compare_digest(request.headers.get("password", ""), config.password)
            and secrets.compare_digest(str(body.get("app_key", "")), config.app_key)
            and secrets.compare_digest(str(body.get("app_secret", "")), config.app_secret)
        )

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
        if not isinstance(body, dict) or not credentials_ok(request, body):
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

    def required(body: Body, *names: str) -> list[str]:
        values = [body.get(name) for name in names]
        if any(value in (None, "") for value in values):
            raise BusinessError("2065", "Mandatory field missing")
        return [str(value) for value in values]

    def payment_of(body: Body, key: str = "paymentID") -> Payment:
        payment = state.payments.get(
            str(body.get(key) or body.get("paymentID") or body.get("paymentId") or "")
        )
        if payment is None:
            raise BusinessError("2002", "Invalid Payment ID")
        return payment

    def create_payment(body: Body, base: str) -> Body:
        mode, payer, callback, amount, currency, intent, invoice = required(
            body,
            "mode",
            "payerReference",
            "callbackURL",
            "amount",
            "currency",
            "intent",
            "merchantInvoiceNumber",
        )
        if mode != "0011":
            raise BusinessError("2063", "Mode is not valid as per request data")
        if not AMOUNT.match(amount) or Decimal(amount) <= 0:
            raise BusinessError("2006", "Invalid amount")
        if currency != "BDT":
            raise BusinessError("2007", "Invalid currency")
        if intent not in ("sale", "authorization"):
            raise BusinessError("2008", "Invalid intent")
        if not re.match(r"^https?://[^\s?#]+$", callback):
            raise BusinessError("2049", "Invalid Merchant Callback URL")
        if len(invoice) > 255:
            raise BusinessError("2031", "Invalid merchant invoice number")
        if len(payer) > 255:
            raise BusinessError("2048", "Invalid Payer Reference")
        payment = Payment(
            payment_id=new_id("TR0011", 15),
            hash=secrets.token_urlsafe(16),
            amount=amount,
            currency=currency,
            intent=intent,
            invoice=invoice,
            payer_reference=payer,
            callback_url=callback,
            created_time=bkash_time(),
        )
        state.payments[payment.payment_id] = payment
        query = {
            "paymentID": payment.payment_id,
            "hash": payment.hash,
            "mode": mode,
            "apiVersion": "v1.2.0-beta",
        }
        return {
            "statusCode": "0000",
            "statusMessage": "Successful",
            "paymentID": payment.payment_id,
            "bkashURL": f"{base}/redirect/tokenized/?{urlencode(query)}",
            "callbackURL": callback,
            **{
                f"{name}CallbackURL": callback
                + "?"
                + urlencode({"paymentID": payment.payment_id, "status": hint})
                for name, hint in (("success", "success"), ("failure", "failure"), ("cancelled", "cancel"))
            },
            "amount": amount,
            "intent": intent,
            "currency": currency,
            "paymentCreateTime": payment.created_time,
            "transactionStatus": payment.status,
            "merchantInvoiceNumber": invoice,
        }

    def execute_payment(body: Body) -> Body:
        payment = payment_of(body)
        payment.execute_calls += 1
        if payment.status == "Completed":
            raise BusinessError(config.already_completed_code, "The payment has already been completed")
        if payment.status != "Initiated" or payment.choice != "approve":
            raise BusinessError("2056", "Invalid Payment State")
        if INSUFFICIENT_WALLET in (payment.wallet, payment.payer_reference):
            payment.status = "Failed"
            raise BusinessError("2023", "Insufficient Balance")
        if any(
            other.invoice == payment.invoice and other.status == "Completed"
            for other in state.payments.values()
        ):
            payment.status = "Failed"
            raise BusinessError("2029", "Duplicate for All Transactions")
        payment.status, payment.trx_id, payment.executed_time = "Completed", new_id("", 10), bkash_time()
        return {
            "statusCode": "0000",
            "statusMessage": "Successful",
            "paymentID": payment.payment_id,
            "payerReference": payment.payer_reference,
            "customerMsisdn": payment.wallet or "01770618575",
            "trxID": payment.trx_id,
            "amount": payment.amount,
            "transactionStatus": payment.status,
            "paymentExecuteTime": payment.executed_time,
            "currency": payment.currency,
            "intent": payment.intent,
            "merchantInvoiceNumber": payment.invoice,
        }

    def payment_status(body: Body) -> Body:
        payment = payment_of(body)
        answer: Body = {
            "paymentID": payment.payment_id,
            "mode": "0011",
            "paymentCreateTime": payment.created_time,
            "amount": payment.amount,
            "currency": payment.currency,
            "intent": payment.intent,
            "merchantInvoice": payment.invoice,  # sic: not merchantInvoiceNumber (as query answers spell it)
            "transactionStatus": payment.status,
            "statusCode": "0000",
            "statusMessage": "Successful",
            "payerReference": payment.payer_reference,
        }
        if payment.trx_id:
            answer |= {
                "trxID": payment.trx_id,
                "paymentExecuteTime": payment.executed_time,
                "verificationStatus": "Complete",
            }
        return answer

    def search_transaction(body: Body) -> Body:
        (trx_id,) = required(body, "trxID")
        payment = next((p for p in state.payments.values() if p.trx_id == trx_id), None)
        if payment is None:
            raise BusinessError("2033", "Transaction not found")
        return {
            "trxID": trx_id,
            "initiationTime": payment.created_time,
            "completedTime": payment.executed_time,
            "transactionType": "bKash Tokenized Checkout via API",
            "customerMsisdn": payment.wallet or "01770618575",
            "transactionStatus": payment.status,
            "amount": payment.amount,
            "currency": payment.currency,
            "organizationShortCode": "50022",
            "statusCode": "0000",
            "statusMessage": "Successful",
        }

    @app.post(f"{V1}/create")
    async def create(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return await serve("create", request, lambda body: create_payment(body, base), auth="token")

    @app.post(f"{V1}/execute")
    async def execute(request: Request) -> Response:
        return await serve("execute", request, execute_payment, auth="token")

    @app.post(f"{V1}/payment/status")
    async def status(request: Request) -> Response:
        return await serve("status", request, payment_status, auth="token")

    @app.post(f"{V1}/general/searchTransaction")
    async def search(request: Request) -> Response:
        return await serve("search", request, search_transaction, auth="token")

    # --- v2 refunds ----------------------------------------------------------------------------------

    def refunded_payment(body: Body) -> Payment:
        payment = payment_of(body, "paymentId")
        if payment.status != "Completed" or str(body.get("trxId", "")) != payment.trx_id:
            raise BusinessError("2033", "Transaction not found")
        return payment

    def refund_payment(body: Body) -> Body:
        _, _, amount, sku, reason = required(body, "paymentId", "trxId", "refundAmount", "sku", "reason")
        payment = refunded_payment(body)
        if not AMOUNT.match(amount) or Decimal(amount) <= 0:
            raise BusinessError("2006", "Invalid amount")
        if len(sku) > 255 or len(reason) > 255:
            raise BusinessError("2025", "Invalid request body")
        if payment.refundable() <= 0:
            raise BusinessError("2034", "Transaction has already been reversed")
        if Decimal(amount) > payment.refundable():
            raise BusinessError("2026", "Reversal amount is greater than the remaining amount")
        refund = Refund(new_id("", 10), Decimal(amount), sku, reason, bkash_time())
        payment.refunds.append(refund)
        return {
            "originalTrxId": payment.trx_id,
            "refundTrxId": refund.refund_trx_id,
            "refundTransactionStatus": "Completed",
            "originalTrxAmount": payment.amount,
            "refundAmount": amount,
            "currency": payment.currency,
            "completedTime": refund.completed_time,
            "sku": sku,
            "reason": reason,
        }

    def refund_status(body: Body) -> Body:
        required(body, "paymentId", "trxId")
        payment = refunded_payment(body)
        return {
            "originalTrxId": payment.trx_id,
            "originalTrxAmount": payment.amount,
            "originalTrxCompletedTime": payment.executed_time,
            "maxRefundableAmount": f"{payment.refundable():.2f}",
            "refundTransactions": [
                {
                    "refundTrxId": refund.refund_trx_id,
                    "refundTransactionStatus": "Completed",
                    "refundAmount": f"{refund.amount:.2f}",
                    "completedTime": refund.completed_time,
                    "sku": refund.sku,
                    "reason": refund.reason,
                }
                for refund in payment.refunds
            ],
        }

    @app.post(f"{V2}/refund/payment/transaction")
    async def refund(request: Request) -> Response:
        return await serve("refund", request, refund_payment, auth="token", v2=True)

    @app.post(f"{V2}/refund/payment/status")
    async def refund_state(request: Request) -> Response:
        return await serve("refund_status", request, refund_status, auth="token", v2=True)

    # --- the shopper on the "bKash page" ---------------------------------------------------------------

    def decide(payment: Payment, choice: str, wallet: str | None) -> str:
        """Record what the shopper did; the browser is then sent to the merchant's callback."""
        if payment.status == "Initiated" and payment.choice is None:
            payment.choice, payment.wallet = choice, wallet
            if choice == "fail":
                payment.status = "Failed"
            elif choice == "cancel":
                payment.status = "Cancelled"
        status = {"approve": "success", "fail": "failure", "cancel": "cancel"}[choice]
        query = urlencode({"paymentID": payment.payment_id, "status": status, "apiVersion": "1.2.0-beta"})
        return f"{payment.callback_url}?{query}"

    def page_payment(request: Request) -> Payment | None:
        payment = state.payments.get(request.query_params.get("paymentID", ""))
        if payment is None or not secrets.compare_digest(request.query_params.get("hash", ""), payment.hash):
            return None
        return payment

    @app.get("/redirect/tokenized/")
    async def page(request: Request) -> Response:
        payment = page_payment(request)
        if payment is None:
            return HTMLResponse("<p>Invalid payment link</p>", 404)
        links = "".join(
            f'<p><a href="decide?{urlencode({**request.query_params, "choice": choice})}">{choice}</a></p>'
            for choice in ("approve", "fail", "cancel")
        )
        return HTMLResponse(f"<h1>Pay {payment.amount} {payment.currency}</h1>{links}")

    @app.get("/redirect/tokenized/decide")
    async def page_decision(request: Request) -> Response:
        payment = page_payment(request)
        choice = request.query_params.get("choice", "")
        if payment is None or choice not in ("approve", "fail", "cancel"):
            return HTMLResponse("<p>Invalid payment link</p>", 404)
        return RedirectResponse(decide(payment, choice, request.query_params.get("wallet")), 302)

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
        return JSONResponse({"redirect": decide(payment, body["choice"], body.get("wallet"))})

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
