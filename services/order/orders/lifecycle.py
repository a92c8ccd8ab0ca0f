"""Order transitions after checkout: cancel and expire (which return the stock), and fulfilment.

Closing an unpaid order and returning its units happen in one transaction whose first write is
the guarded status change: whichever of a cancel, an expiry or a payment commits first wins, the
others find the order no longer pending, and the stock comes back exactly once.

Fulfilment steps move `fulfilment_status` only: refunds (which move `money_status`, in the payment
service) neither block them nor are overwritten by them. A closed order's pending provider payment is
cancelled by the payment service's reconciler (the order service never calls providers).
"""

from __future__ import annotations

import logging

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.order import metrics
from services.order.catalog import repository as catalog
from services.order.orders import repository
from services.order.orders.checkout import OrderContext
from services.order.orders.errors import IllegalTransition, OrderNotFound
from services.order.orders.schemas import Order
from services.order.orders.state import ADMIN_STEPS, close_guard, step_guard
from services.order.orders.views import to_order
from shared.audit import Action, Caller, Origin, Target, audit
from shared.clock import utcnow
from shared.contracts.orders import CLOSING_EVENTS, FulfilmentStatus, MoneyStatus, order_event, split_of
from shared.db import Document
from shared.ids import to_object_id
from shared.logging import log_event
from shared.tokens import Principal

logger = logging.getLogger("order.lifecycle")

SYSTEM_ACTOR = "system:reaper"


class _NotPending(Exception):
    """The guarded transition missed: the order is not (or no longer) pending payment."""


async def close_unpaid(
    ctx: OrderContext,
    order_id: ObjectId,
    closing: FulfilmentStatus,
    actor: str,
    *,
    extra_filter: Document | None = None,
    reason: str | None = None,
    audited_as: Caller | None = None,
) -> Document | None:
    """Move a pending_payment order to cancelled or expired and return its stock, in one transaction.

    None when the order was not pending (or did not match `extra_filter`): nothing changed. With
    `audited_as`, the audit record is written in the same transaction.
    """
    now = utcnow()

    async def close(session: AsyncClientSession) -> Document:
        closed = await repository.transition(
            ctx.db,
            close_guard(order_id, extra_filter),
            {"fulfilment_status": closing.value, "money_status": MoneyStatus.UNPAID.value},
            now,
            actor,
            reason,
            session,
        )
        if closed is None:
            raise _NotPending
        await repository.insert_event(ctx.db, order_event(CLOSING_EVENTS[closing], closed, now), session)
        if audited_as is not None:
            await audit(
                ctx.db,
                Action.ORDER_CANCELLED,
                audited_as,
                Target("order", str(order_id)),
                session,
                before={"fulfilment_status": "placed", "money_status": MoneyStatus.UNPAID.value},
                after={"fulfilment_status": closing.value, "money_status": MoneyStatus.UNPAID.value},
            )
        await catalog.return_stock(ctx.db, closed["items"], now, session)  # contended: last
        return closed

    try:
        closed = await ctx.transaction(close)
    except _NotPending:
        return None
    log_event(logger, f"order.{closing.value}", order_id=str(order_id), by=actor)
    return closed


async def cancel_order(
    ctx: OrderContext, order_id: str, caller: Principal, origin: Origin | None = None
) -> Order:
    """Cancel an unpaid order (its owner or an admin: audited) and return its stock."""
    oid = to_object_id(order_id)
    owner_only = None if caller.is_admin else {"user_id": caller.user_id}
    audited_as = Caller.of(caller, origin or Origin()) if caller.is_admin else None
    closed = await close_unpaid(
        ctx, oid, FulfilmentStatus.CANCELLED, caller.user_id, extra_filter=owner_only, audited_as=audited_as
    )
    if closed is not None:
        metrics.cancelled(by_admin=caller.is_admin)
        return to_order(closed)
    current = await repository.find_order(ctx.db, oid, user_id=None if caller.is_admin else caller.user_id)
    if current is None:
        raise OrderNotFound(f"No order with id {order_id}.")
    raise IllegalTransition(f"A {current['status']} order cannot be cancelled.", status=current["status"])


async def expire_order(ctx: OrderContext, order_id: ObjectId) -> bool:
    """Expire an overdue unpaid order and return its stock; False if it was paid, closed or not due."""
    overdue = {"expires_at": {"$lte": utcnow()}}
    closed = await close_unpaid(ctx, order_id, FulfilmentStatus.EXPIRED, SYSTEM_ACTOR, extra_filter=overdue)
    return closed is not None


# The audit action of each fulfilment step an admin takes.
STEP_ACTIONS = {
    FulfilmentStatus.SHIPPED: Action.ORDER_SHIPPED,
    FulfilmentStatus.DELIVERED: Action.ORDER_DELIVERED,
}


async def change_status(
    ctx: OrderContext, order_id: str, step: FulfilmentStatus, admin: Principal, origin: Origin | None = None
) -> Order:
    """An admin's fulfilment step (shipped, delivered), whatever was refunded; out of order: 409.

    The step and its audit record commit together."""
    assert step in ADMIN_STEPS
    oid = to_object_id(order_id)
    now = utcnow()

    async def move(session: AsyncClientSession) -> Document | None:
        moved = await repository.transition(
            ctx.db,
            step_guard(oid, step),
            {"fulfilment_status": step.value},
            now,
            admin.user_id,
            None,
            session,
        )
        if moved is not None:
            before = [entry.get("fulfilment_status") for entry in moved.get("history", [])[-2:-1]]
            await audit(
                ctx.db,
                STEP_ACTIONS[step],
                Caller.of(admin, origin or Origin()),
                Target("order", order_id),
                session,
                before={"fulfilment_status": before[0] if before else None},
                after={"fulfilment_status": step.value, "money_status": moved.get("money_status")},
            )
        return moved

    moved = await ctx.transaction(move)
    if moved is not None:
        log_event(logger, f"order.{step.value}", order_id=order_id, by=admin.user_id)
        return to_order(moved)
    current = await repository.find_order(ctx.db, oid)
    if current is None:
        raise OrderNotFound(f"No order with id {order_id}.")
    fulfilment, money = split_of(current)
    raise IllegalTransition(
        f"An order that is {fulfilment.value} (money: {money.value}) cannot become {step.value}.",
        status=current["status"],
        fulfilment_status=fulfilment.value,
        money_status=money.value,
    )
