"""The sandbox's "payment page": the payment's owner (or an admin) plays the shopper."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from services.payment.context import Context, PaymentContext
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.payments.schemas import Payment, SandboxOutcome
from services.payment.payments.settlement import settle
from services.payment.payments.views import to_payment
from services.payment.providers.sandbox import SandboxProvider
from shared.db import Document
from shared.deps import CurrentUser
from shared.ids import object_id_path, to_object_id

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
    if payment is None or not is_started_sandbox_payment(payment):
        raise PaymentNotFound(f"No sandbox payment with id {payment_id}.")
    return to_payment(await play_shopper(ctx, payment, body.outcome), admin=caller.is_admin)


def is_started_sandbox_payment(payment: Document) -> bool:
    """A sandbox payment that exists at the sandbox (only those can be settled there)."""
    return payment["provider"] == "sandbox" and bool(payment.get("provider_payment_id"))


async def play_shopper(ctx: PaymentContext, payment: Document, outcome: str) -> Document:
    """Settle a sandbox payment as its shopper chose; the payment as stored afterwards."""
    provider = ctx.provider("sandbox")
    assert isinstance(provider, SandboxProvider)
    event = await provider.complete(payment["provider_payment_id"], outcome)
    await settle(ctx, "sandbox", event)
    stored = await payments.find_payment(ctx.db, payment["_id"])
    assert stored is not None
    return stored
