"""Reconciliation: ask providers about payments and refunds left pending too long, and settle them
through the same exactly-once path as webhooks; give back the rest of every payment still due an
automatic refund. Safe with several replicas running it at once.

A pending payment whose order can no longer take it (cancelled, expired, paid by another payment) is
withdrawn at its provider instead (`cancel_payment`: Stripe cancels the PaymentIntent, bKash is
never executed; Nagad and the sandbox cannot withdraw, and a late payment there is refunded). The
order service never calls providers: each pass reads the orders' OrderCancelled and OrderExpired
events of the last few periods from the order outbox, so a closed order's payment is withdrawn
within about one period; payments older than RECONCILE_AFTER_SECONDS are checked against their order
in any case."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI

from services.payment.context import PaymentContext
from services.payment.orders import repository as orders
from services.payment.payments import repository
from services.payment.payments.backlog import measure_backlog
from services.payment.payments.settlement import PAYABLE_ORDER, settle
from services.payment.providers.base import ProviderError, ProviderEvent
from services.payment.refunds import repository as refund_repository
from services.payment.refunds import service as refunds
from services.payment.refunds.booking import book_queried
from shared.clock import utcnow
from shared.db import Document
from shared.logging import log_event
from shared.periodic import Periodic, running

logger = logging.getLogger("payment.reconciliation")
MAX_BACKOFF_SECONDS = 24 * 3600
# How far back each pass reads them, in reconciliation periods (a missed pass or two is covered;
# RECONCILE_AFTER_SECONDS covers the rest).
CLOSED_LOOKBACK_PERIODS = 3
# What settle answers when a pass changed something (a flagged capture left pending too).
SETTLED = ("applied", "flagged")


async def reconcile(ctx: PaymentContext) -> int:
    """One pass over stale pending payments and refunds; returns how many were settled."""
    now = utcnow()
    cutoff = now - timedelta(seconds=ctx.settings.reconcile_after_seconds)
    await measure_backlog(ctx, cutoff)
    settled = await _withdraw_for_closed_orders(ctx, now)
    for payment in await repository.due_for_reconciliation(
        ctx.db, cutoff, now, ctx.settings.reconcile_batch_size
    ):
        event = await _ask(ctx, payment)
        if event is not None and await settle(ctx, payment["provider"], event, from_query=True) in SETTLED:
            settled += 1
        else:
            await repository.postpone_check(ctx.db, payment["_id"], now + _backoff(ctx, payment))
    settled += await _reconcile_refunds(ctx, cutoff)
    await _retry_automatic_refunds(ctx, now, cutoff)
    if settled:
        log_event(logger, "payment.reconciled", settled=settled)
    return settled


async def _ask(ctx: PaymentContext, payment: Document) -> ProviderEvent | None:
    """The provider's word on a pending payment: withdrawn if its order cannot take it any more."""
    provider = ctx.providers.get(payment["provider"])
    if provider is None or not payment.get("provider_payment_id"):
        return None
    payable = await orders.status_of(ctx.db, payment["order_id"]) == PAYABLE_ORDER
    with contextlib.suppress(ProviderError):
        if payable:
            return await provider.query_payment(payment["provider_payment_id"], str(payment["_id"]))
        return await provider.cancel_payment(payment["provider_payment_id"], str(payment["_id"]))
    return None


async def _withdraw_for_closed_orders(ctx: PaymentContext, now: datetime) -> int:
    """Withdraw the pending payments of orders closed in the last few periods (the order outbox)."""
    since = now - timedelta(seconds=max(CLOSED_LOOKBACK_PERIODS * ctx.settings.reconcile_every_seconds, 60))
    order_ids = await orders.closed_since(ctx.db, since, ctx.settings.reconcile_batch_size)
    withdrawn = 0
    if not order_ids:
        return withdrawn
    for payment in await repository.pending_of_orders(ctx.db, order_ids, ctx.settings.reconcile_batch_size):
        event = await _ask(ctx, payment)
        if event is not None and await settle(ctx, payment["provider"], event, from_query=True) in SETTLED:
            withdrawn += 1
    if withdrawn:
        log_event(logger, "payment.withdrawn_for_closed_orders", payments=withdrawn)
    return withdrawn


def _backoff(ctx: PaymentContext, payment: Document) -> timedelta:
    """Abandoned payments stay pending at the provider forever: ask less and less often (capped at a
    day), so they never crowd out the payments that need a check now."""
    return ctx.settings.reconcile_backoff(int(payment.get("reconcile_attempts", 0)), MAX_BACKOFF_SECONDS)


async def _reconcile_refunds(ctx: PaymentContext, cutoff: datetime) -> int:
    settled = 0
    for refund in await refund_repository.pending_since(ctx.db, cutoff, ctx.settings.reconcile_batch_size):
        payment = await repository.find_payment(ctx.db, refund["payment_id"])
        provider = ctx.providers.get(payment["provider"]) if payment else None
        if payment is None or provider is None:
            continue
        try:
            request = await refunds.refund_request(ctx, payment, refund)
            result = await provider.query_refund(request, refund.get("provider_refund_id") or None)
        except ProviderError:
            continue
        if await book_queried(ctx, refund, result):
            settled += 1
    return settled


async def _retry_automatic_refunds(ctx: PaymentContext, now: datetime, cutoff: datetime) -> None:
    """Refund the rest of every payment whose automatic refund is due a new try (after a failed
    reservation, provider call or refund); alarm while any has been owed for long."""
    overdue = await refund_repository.count_auto_refunds_due_since(ctx.db, cutoff)
    ctx.metrics.auto_refunds_overdue.set(overdue)
    if overdue:
        log_event(logger, "refund.automatic_overdue", logging.WARNING, payments=overdue)
    for payment in await refund_repository.auto_refunds_due(ctx.db, now, ctx.settings.reconcile_batch_size):
        await refunds.refund_automatically(ctx, payment["_id"])


@asynccontextmanager
async def reconciler_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Reconcile every RECONCILE_EVERY_SECONDS, the first pass one period after start-up."""
    ctx: PaymentContext = app.state.payment_context
    passes = Periodic(
        "payment.reconcile",
        ctx.settings.reconcile_every_seconds,
        lambda: reconcile(ctx),
        first_at_start=False,
    )
    async with running(passes, app.state.service_metrics.jobs):
        yield
