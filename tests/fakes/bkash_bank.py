"""The fake bKash's accounts: tokens, payments and refunds, as bKash's tokenized checkout keeps them.

Business errors are raised as `BusinessError(code, message)`; bkash_server.py answers them in
bKash's envelopes. Codes: 2001 app key, 2002 payment id, 2006 amount, 2007 currency, 2008 intent,
2023 insufficient balance, 2025 body, 2026 refund above what remains, 2029 duplicate invoice, 2031
invoice, 2033 transaction not found, 2034 already refunded, 2048 payer reference, 2049 callback URL,
2056 payment state, 2062 already completed (configurable), 2063 mode, 2065 mandatory field.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import Request

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


class Bank(State):
    """What bKash does with each call (the handlers bkash_server.py routes to)."""

    def credentials_ok(self, request: Request, body: Body) -> bool:
        return (
            secrets.compare_digest(request.headers.get("username", ""), self.config.username)
            and secrets.compare_digest(request.headers.get("password", ""), self.config.password)
            and secrets.compare_digest(str(body.get("app_key", "")), self.config.app_key)
            and secrets.compare_digest(str(body.get("app_secret", "")), self.config.app_secret)
        )

    def required(self, body: Body, *names: str) -> list[str]:
        values = [body.get(name) for name in names]
        if any(value in (None, "") for value in values):
            raise BusinessError("2065", "Mandatory field missing")
        return [str(value) for value in values]

    def payment_of(self, body: Body, key: str = "paymentID") -> Payment:
        payment = self.payments.get(
            str(body.get(key) or body.get("paymentID") or body.get("paymentId") or "")
        )
        if payment is None:
            raise BusinessError("2002", "Invalid Payment ID")
        return payment

    def create_payment(self, body: Body, base: str) -> Body:
        mode, payer, callback, amount, currency, intent, invoice = self.required(
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
        self.payments[payment.payment_id] = payment
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

    def execute_payment(self, body: Body) -> Body:
        payment = self.payment_of(body)
        payment.execute_calls += 1
        if payment.status == "Completed":
            raise BusinessError(self.config.already_completed_code, "The payment has already been completed")
        if payment.status != "Initiated" or payment.choice != "approve":
            raise BusinessError("2056", "Invalid Payment State")
        if INSUFFICIENT_WALLET in (payment.wallet, payment.payer_reference):
            payment.status = "Failed"
            raise BusinessError("2023", "Insufficient Balance")
        if any(
            other.invoice == payment.invoice and other.status == "Completed"
            for other in self.payments.values()
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

    def payment_status(self, body: Body) -> Body:
        payment = self.payment_of(body)
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

    def search_transaction(self, body: Body) -> Body:
        (trx_id,) = self.required(body, "trxID")
        payment = next((p for p in self.payments.values() if p.trx_id == trx_id), None)
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

    def refunded_payment(self, body: Body) -> Payment:
        payment = self.payment_of(body, "paymentId")
        if payment.status != "Completed" or str(body.get("trxId", "")) != payment.trx_id:
            raise BusinessError("2033", "Transaction not found")
        return payment

    def refund_payment(self, body: Body) -> Body:
        _, _, amount, sku, reason = self.required(body, "paymentId", "trxId", "refundAmount", "sku", "reason")
        payment = self.refunded_payment(body)
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

    def refund_status(self, body: Body) -> Body:
        self.required(body, "paymentId", "trxId")
        payment = self.refunded_payment(body)
        # Each refund with its id, status, amount and time only: bKash's refund status never echoes
        # the sku or reason sent with the refund (only the refund's own answer does).
        return {
            "originalTrxId": payment.trx_id,
            "originalTrxAmount": payment.amount,
            "originalTrxCompletedTime": payment.executed_time,
            "refundTransactions": [
                {
                    "refundTrxId": refund.refund_trx_id,
                    "refundTransactionStatus": "Completed",
                    "refundAmount": f"{refund.amount:.2f}",
                    "completedTime": refund.completed_time,
                }
                for refund in payment.refunds
            ],
        }

    def decide(self, payment: Payment, choice: str, wallet: str | None) -> str:
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

    def page_payment(self, request: Request) -> Payment | None:
        payment = self.payments.get(request.query_params.get("paymentID", ""))
        if payment is None or not secrets.compare_digest(request.query_params.get("hash", ""), payment.hash):
            return None
        return payment
