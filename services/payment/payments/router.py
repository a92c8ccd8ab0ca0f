"""HTTP routes of payments and refunds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status

from services.payment.context import Context
from services.payment.payments import service
from services.payment.payments.schemas import CreatePayment, Payment
from services.payment.refunds import service as refunds
from services.payment.refunds.schemas import CreateRefund, Refund, RefundList
from shared.audit import Caller, RequestOrigin
from shared.deps import AdminUser, CurrentUser
from shared.forwarding import client_ip
from shared.idempotency import IdempotencyKeyHeader, mark_created, require_key
from shared.ids import object_id_path

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])

PaymentId = Annotated[str, object_id_path("Payment id")]
IdempotencyKey = IdempotencyKeyHeader


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Payment,
    summary="Pay an order",
    description=(
        "201: a new provider payment was started. 200: the order already has a pending payment with "
        "this provider, which is returned instead of starting another (pay that one). An order may "
        "start a limited number of payments (409 `payment-attempts-exhausted`, naming the `limit`). "
        "409 `payment-already-initialized`: the provider kept a first try whose answer was lost and "
        "refuses it again; that payment failed, and asking again (a new Idempotency-Key) starts another."
    ),
    responses={200: {"model": Payment, "description": "The order's pending payment with this provider."}},
)
async def create_payment(
    body: CreatePayment,
    user: CurrentUser,
    ctx: Context,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Payment:
    # The shopper's address as the gateway vouches for it (Nagad is told it: X-KM-IP-V4).
    shopper = client_ip(request, ctx.settings)
    started = await service.start_payment(ctx, user.user_id, body, require_key(idempotency_key), shopper)
    mark_created(response, replayed=started.replayed, location=f"{router.prefix}/{started.payment.id}")
    if started.reused:
        response.status_code = status.HTTP_200_OK
    return started.payment


@router.get("/{payment_id}", response_model=Payment, summary="Get one payment")
async def get_payment(payment_id: PaymentId, user: CurrentUser, ctx: Context) -> Payment:
    return await service.get_payment(ctx.db, payment_id, user)


@router.post(
    "/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=Refund,
    summary="Refund (admin)",
)
async def create_refund(
    payment_id: PaymentId,
    body: CreateRefund,
    admin: AdminUser,
    origin: RequestOrigin,
    ctx: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Refund:
    caller = Caller.of(admin, origin)
    requested = await refunds.request_refund(ctx, payment_id, body, require_key(idempotency_key), caller)
    # No Location: a refund is read in its payment's list (GET /payments/{id}/refunds).
    mark_created(response, replayed=requested.replayed)
    return requested.value


@router.get(
    "/{payment_id}/refunds",
    response_model=RefundList,
    summary="A payment's refunds (admin): the shop's, automatic ones, and those made at the provider",
)
async def list_refunds(payment_id: PaymentId, _: AdminUser, ctx: Context) -> RefundList:
    return await refunds.list_refunds(ctx, payment_id)
