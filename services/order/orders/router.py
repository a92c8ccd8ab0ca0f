"""HTTP routes of orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from services.order import metrics
from services.order.orders import lifecycle, service
from services.order.orders.checkout import OrderContext, place_order
from services.order.orders.schemas import Order, OrderList, PlaceOrder, StatusChange
from services.order.orders.service import OrderFilters
from shared.audit import RequestOrigin
from shared.contracts.orders import FulfilmentStatus, MoneyStatus, OrderStatus
from shared.deps import AdminUser, CurrentUser, Db, get_context
from shared.idempotency import IdempotencyKeyHeader, mark_created, require_key
from shared.ids import OBJECT_ID_PATTERN, object_id_path
from shared.timestamps import Instant

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

OrderId = Annotated[str, object_id_path("Order id")]
IdempotencyKey = IdempotencyKeyHeader


Context = Annotated[OrderContext, Depends(get_context)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Order, summary="Place an order")
async def create_order(
    body: PlaceOrder,
    user: CurrentUser,
    ctx: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Order:
    placed = await metrics.checkout(place_order(ctx, user.user_id, body, require_key(idempotency_key)))
    mark_created(response, replayed=placed.replayed, location=f"{router.prefix}/{placed.value.id}")
    return placed.value


@router.get("", response_model=OrderList, summary="List orders (your own; admins: everyone's)")
async def list_orders(
    user: CurrentUser,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    status_filter: Annotated[OrderStatus | None, Query(alias="status")] = None,
    customer: Annotated[
        str | None, Query(pattern=OBJECT_ID_PATTERN, description="Admins: one customer's.")
    ] = None,
    created_from: Annotated[Instant | None, Query(description="Orders placed at or after this.")] = None,
    created_to: Annotated[Instant | None, Query(description="Orders placed before this instant.")] = None,
    fulfilment_status: Annotated[
        FulfilmentStatus | None, Query(description="For example `paid`: the orders to ship.")
    ] = None,
    money_status: MoneyStatus | None = None,
) -> OrderList:
    filters = OrderFilters(
        limit, cursor, status_filter, customer, created_from, created_to, fulfilment_status, money_status
    )
    return await service.list_orders(db, user, filters)


@router.get("/{order_id}", response_model=Order, summary="Get one order")
async def get_order(order_id: OrderId, user: CurrentUser, db: Db) -> Order:
    return await service.get_order(db, order_id, user)


@router.post("/{order_id}/cancel", response_model=Order, summary="Cancel an unpaid order")
async def cancel_order(order_id: OrderId, user: CurrentUser, ctx: Context, origin: RequestOrigin) -> Order:
    return await lifecycle.cancel_order(ctx, order_id, user, origin)


@router.post("/{order_id}/status", response_model=Order, summary="Fulfilment step (admin)")
async def change_status(
    order_id: OrderId, body: StatusChange, admin: AdminUser, ctx: Context, origin: RequestOrigin
) -> Order:
    return await lifecycle.change_status(ctx, order_id, FulfilmentStatus(body.status), admin, origin)
