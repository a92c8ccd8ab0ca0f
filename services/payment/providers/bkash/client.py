"""The bKash provider: create, execute (once), status, refunds (v2), as the provider interface asks.

Create answers a `bkashURL` for the shopper; bKash sends the browser back to our callback, and only
then does our execute move the money. Create sends our payment id as `merchantInvoiceNumber` (which
settlement checks against the payment) and our order id as `payerReference`. Refunds need the
payment's trxID (read from `payment/status`). bKash has no idempotency key, and its refund status
lists refunds without the `sku` we send, so before sending a refund its current list of refundTrxIds
is recorded with our refund (`RefundRequest.record_listing`): if the answer is lost, ours is the new
refundTrxId of our amount that no other refund of ours owns (answers.our_refund).
"""

from __future__ import annotations

import logging

import httpx

from services.payment.providers.base import (
    CreatedPayment,
    PaymentRequest,
    ProviderEvent,
    RefundRequest,
    RefundResult,
)
from services.payment.providers.bkash.answers import (
    ALREADY_EXECUTED,
    CURRENCY,
    NAME,
    TEXT_LIMIT,
    BkashError,
    our_refund,
    payment_event,
    refund_state,
    refund_trx_id,
    require_bdt,
    text,
    to_bdt,
)
from services.payment.providers.bkash.transport import BkashTransport
from services.payment.settings import PaymentSettings
from shared.db import Database, Document
from shared.logging import log_event

logger = logging.getLogger("payment.bkash")

# Paths under BKASH_BASE_URL (v1.2.0-beta) and BKASH_REFUND_BASE_URL (v2).
CREATE, EXECUTE, STATUS = "create", "execute", "payment/status"
REFUND, REFUND_STATUS = "refund/payment/transaction", "refund/payment/status"


class BkashProvider:
    name = NAME

    def __init__(
        self,
        settings: PaymentSettings,
        *,
        refund_auth_scheme: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = BkashTransport(settings, transport)
        self.base_url = settings.bkash_base_url.rstrip("/")
        self.refund_base_url = settings.bkash_refund_base_url.rstrip("/")
        self.max_retries = settings.provider_max_retries
        self.refund_auth_scheme = refund_auth_scheme  # "" (raw token, as v1.2) or "Bearer"

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        require_bdt(request.currency)
        body = {
            "mode": "0011",
            "payerReference": request.order_id,
            "callbackURL": request.callback_url,
            "amount": to_bdt(request.amount),
            "currency": CURRENCY,
            "intent": "sale",
            "merchantInvoiceNumber": request.payment_id,
        }
        data = await self.http.call(f"{self.base_url}/{CREATE}", body, retries=0)
        payment_id, url = text(data, "paymentID", "paymentId"), text(data, "bkashURL")
        if payment_id is None or url is None:
            raise BkashError("bKash's create answer has no paymentID or bkashURL.")
        return CreatedPayment(provider_payment_id=payment_id, redirect_url=url)

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        return payment_event(await self._status(provider_payment_id), provider_payment_id)

    async def cancel_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """bKash has no cancel, but moves money only when we execute, and we execute only a pending
        payment: unless bKash says it completed, the payment is withdrawn by our word alone."""
        event = await self.query_payment(provider_payment_id, payment_id)
        if event.kind in ("payment_succeeded", "payment_failed"):
            return event
        return ProviderEvent(
            event_id=f"cancel:{provider_payment_id}",
            kind="payment_cancelled",
            provider_payment_id=provider_payment_id,
            reference=payment_id,
        )

    async def execute(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """Execute once (the call that moves the money); unless it clearly completed, ask the status."""
        try:
            data = await self.http.call(
                f"{self.base_url}/{EXECUTE}", {"paymentID": provider_payment_id}, retries=0
            )
        except BkashError as error:
            log_event(
                logger,
                "bkash.execute_unconfirmed",
                logging.WARNING if error.code not in ALREADY_EXECUTED else logging.INFO,
                payment_id=payment_id,
                code=error.code,
                outcome_unknown=error.outcome_unknown,
            )
            return await self.query_payment(provider_payment_id, payment_id)
        event = payment_event(data, provider_payment_id)
        if event.kind == "payment_succeeded":
            return event
        return await self.query_payment(provider_payment_id, payment_id)

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Record what bKash lists, then send the refund once (never retried: no idempotency key)."""
        require_bdt(request.currency)
        if request.listed_before is not None:
            # Recorded before: this refund may have been sent already. Only looked up, never resent.
            found = await self.query_refund(request, None)
            if found.state != "failed":
                return found
        trx_id = await self._completed_trx(request.provider_payment_id)
        if trx_id is None:
            raise BkashError("Only a completed bKash payment can be refunded.")
        try:
            existing = await self._refund_transactions(request.provider_payment_id, trx_id)
        except BkashError as error:
            if error.retryable:
                raise
            existing = []  # bKash may answer "no refunds" with an error code
        if request.record_listing is not None:
            listed = frozenset(trx for entry in existing if (trx := refund_trx_id(entry)) is not None)
            await request.record_listing(listed)  # if this fails, nothing is sent
        body = {
            "paymentId": request.provider_payment_id,
            "trxId": trx_id,
            "refundAmount": to_bdt(request.amount),
            "sku": request.refund_id[:TEXT_LIMIT],
            "reason": request.reason[:TEXT_LIMIT],
        }
        data = await self.http.call(
            f"{self.refund_base_url}/{REFUND}", body, retries=0, scheme=self.refund_auth_scheme
        )
        refund_trx = text(data, "refundTrxId", "refundTrxID")
        if refund_trx is None:
            raise BkashError(
                "bKash's refund answer has no refundTrxId.", retryable=True, outcome_unknown=True
            )
        return RefundResult(
            refund_trx, refund_state(text(data, "refundTransactionStatus", "transactionStatus"))
        )

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult:
        """Our refund in bKash's list (answers.our_refund). Absent: a refund whose refundTrxId we know
        stays pending (bKash gave it to us); one whose listing was recorded failed (bKash lists nothing
        new of our amount); one recorded before listings were kept stays pending, for a person."""
        trx_id = await self._completed_trx(request.provider_payment_id)
        if trx_id is None:
            # No completed payment to list refunds of (bKash's status after refunds is not
            # documented): nothing to judge by, so nothing is booked.
            log_event(logger, "bkash.refund_unmatched", logging.WARNING, refund_id=request.refund_id)
            return RefundResult(provider_refund_id or "", "pending")
        entries = await self._refund_transactions(request.provider_payment_id, trx_id)
        found = our_refund(entries, request, provider_refund_id)
        if found is not None:
            return found
        if provider_refund_id or request.listed_before is None:
            log_event(logger, "bkash.refund_unmatched", logging.WARNING, refund_id=request.refund_id)
            return RefundResult(provider_refund_id or "", "pending")
        return RefundResult("", "failed")

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _status(self, provider_payment_id: str) -> Document:
        return await self.http.call(
            f"{self.base_url}/{STATUS}", {"paymentID": provider_payment_id}, retries=self.max_retries
        )

    async def _completed_trx(self, provider_payment_id: str) -> str | None:
        data = await self._status(provider_payment_id)
        if str(data.get("transactionStatus", "")).lower() != "completed":
            return None
        return text(data, "trxID", "trxId")

    async def _refund_transactions(self, provider_payment_id: str, trx_id: str) -> list[Document]:
        data = await self.http.call(
            f"{self.refund_base_url}/{REFUND_STATUS}",
            {"paymentId": provider_payment_id, "trxId": trx_id},
            retries=self.max_retries,
            scheme=self.refund_auth_scheme,
        )
        entries = data.get("refundTransactions") or []
        return [entry for entry in entries if isinstance(entry, dict)]


def create(settings: PaymentSettings, db: Database) -> BkashProvider:
    return BkashProvider(settings, refund_auth_scheme=settings.bkash_refund_auth_scheme)
