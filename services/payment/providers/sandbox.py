"""The sandbox provider: the real life cycle without real money, for development and demos.

It keeps its own ledger (as a real provider does on its side), and is settled by
`POST /api/v1/payments/sandbox/{payment_id}/complete` (the payment's owner or an admin), which goes
through the same settlement path as a verified provider webhook. Enabled only where
PAYMENT_PROVIDERS names it, and never in production.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter

from services.payment.context import Context
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.payments.schemas import Payment, SandboxOutcome
from services.payment.payments.settlement import settle
from services.payment.payments.views import to_payment
from services.payment.providers.base import (
    CreatedPayment,
    PaymentRequest,
    ProviderEvent,
    RefundRequest,
    RefundResult,
)
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.db import Database
from shared.deps import CurrentUser
from shared.ids import object_id_path, to_object_id


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
        await self.db.sandbox_ledger.update_one(
            {"_id": ledger_id},
            {
                "$setOnInsert": {
                    "payment_id": request.payment_id,
                    "amount": request.amount,
                    "currency": request.currency,
                    "status": "pending",
                    "created_at": utcnow(),
                }
            },
            upsert=True,
        )
        url = f"{self.public_base_url}/api/v1/payments/sandbox/{request.payment_id}/complete"
        return CreatedPayment(provider_payment_id=ledger_id, redirect_url=url)

    async def complete(self, provider_payment_id: str, outcome: str) -> ProviderEvent:
        """What the shopper did on the sandbox's "payment page"; only a pending payment changes."""
        await self.db.sandbox_ledger.update_one(
            {"_id": provider_payment_id, "status": "pending"}, {"$set": {"status": outcome}}
        )
        return await self.query_payment(provider_payment_id, "")

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        entry = await self.db.sandbox_ledger.find_one({"_id": provider_payment_id})
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
        await self.db.sandbox_ledger.update_one(
            {"_id": refund_id},
            {
                "$setOnInsert": {
                    "refund_of": request.provider_payment_id,
                    "amount": request.amount,
                    "status": "succeeded",
                    "created_at": utcnow(),
                }
            },
            upsert=True,
        )
        return RefundResult(provider_refund_id=refund_id, state="succeeded")

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult:
        refund_id = provider_refund_id or _derived_id("sbx_re_", request.idempotency_key)
        entry = await self.db.sandbox_ledger.find_one({"_id": refund_id})
        return RefundResult(provider_refund_id=refund_id, state="succeeded" if entry else "failed")

    async def aclose(self) -> None:
        return None


def create(settings: PaymentSettings, db: Database) -> SandboxProvider:
    return SandboxProvider(db, settings.public_base_url)


router = APIRouter(prefix="/api/v1/payments/sandbox", tags=["payments"])


@router.post(
    "/{payment_id}/complete",
    response_model=Payment,
    summary="Settle a sandbox payment (the payment's owner or an admin; not in production)",
)
async def complete(
    payment_id: Annotated[str, object_id_path("Payment id")],
    body: SandboxOutcome,
    caller: CurrentUser,
    ctx: Context,
) -> Payment:
    # Playing the shopper settles an order: only the shopper who owns the payment (or an admin) may.
    # Another customer's payment does not exist for the caller, as everywhere else (404).
    owner = None if caller.is_admin else caller.user_id
    payment = await payments.find_payment(ctx.db, to_object_id(payment_id), user_id=owner)
    if payment is None or payment["provider"] != "sandbox" or not payment.get("provider_payment_id"):
        raise PaymentNotFound(f"No sandbox payment with id {payment_id}.")
    provider = ctx.provider("sandbox")
    assert isinstance(provider, SandboxProvider)
    event = await provider.complete(payment["provider_payment_id"], body.outcome)
    await settle(ctx, "sandbox", event)
    stored = await payments.find_payment(ctx.db, payment["_id"])
    assert stored is not None
    return to_payment(stored, admin=caller.is_admin)
