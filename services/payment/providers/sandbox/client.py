"""The sandbox provider's side of the provider interface: payments and refunds in its own ledger."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from services.payment.providers.base import (
    CreatedPayment,
    PaymentRequest,
    ProviderEvent,
    RefundRequest,
    RefundResult,
)
from services.payment.providers.sandbox import ledger
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.db import Database


def _derived_id(prefix: str, key: str) -> str:
    """The same provider idempotency key always names the same sandbox object."""
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:24]


class SandboxProvider:
    name = "sandbox"

    def __init__(self, db: Database, public_base_url: str) -> None:
        self.db = db
        self.public_base_url = public_base_url

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        ledger_id = _derived_id("sbx_pi_", request.idempotency_key)
        ticket = await ledger.open_payment(
            self.db, ledger_id, request.payment_id, request.amount, request.currency, utcnow()
        )
        query = urlencode({"ticket": ticket})
        url = f"{self.public_base_url}/api/v1/payments/sandbox/{request.payment_id}/page?{query}"
        return CreatedPayment(provider_payment_id=ledger_id, redirect_url=url)

    async def complete(self, provider_payment_id: str, outcome: str) -> ProviderEvent:
        """What the shopper did on the sandbox's "payment page"; only a pending payment changes."""
        await ledger.settle_payment(self.db, provider_payment_id, outcome)
        return await self.query_payment(provider_payment_id, "")

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        entry = await ledger.entry(self.db, provider_payment_id)
        if entry is None:
            return ProviderEvent(
                event_id=f"{provider_payment_id}:unknown",
                kind="payment_pending",
                provider_payment_id=provider_payment_id,
            )
        kind = {"succeeded": "payment_succeeded", "failed": "payment_failed"}.get(
            entry["status"], "payment_pending"
        )
        return ProviderEvent(
            event_id=f"{provider_payment_id}:{entry['status']}",
            kind=kind,  # type: ignore[arg-type]
            provider_payment_id=provider_payment_id,
            amount=entry["amount"],
            currency=entry["currency"],
            reference=entry["payment_id"],
        )

    async def cancel_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """The sandbox's "payment page" cannot be withdrawn (as Nagad's): the shopper may still pay
        late, and the late payment is refunded. Only its current state is reported."""
        return await self.query_payment(provider_payment_id, payment_id)

    async def refund(self, request: RefundRequest) -> RefundResult:
        refund_id = _derived_id("sbx_re_", request.idempotency_key)
        await ledger.record_refund(self.db, refund_id, request.provider_payment_id, request.amount, utcnow())
        return RefundResult(provider_refund_id=refund_id, state="succeeded")

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult:
        refund_id = provider_refund_id or _derived_id("sbx_re_", request.idempotency_key)
        entry = await ledger.entry(self.db, refund_id)
        return RefundResult(provider_refund_id=refund_id, state="succeeded" if entry else "failed")

    async def aclose(self) -> None:
        return None


def create(settings: PaymentSettings, db: Database) -> SandboxProvider:
    return SandboxProvider(db, settings.public_base_url)
