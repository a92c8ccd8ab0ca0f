"""The reconciliation backlog (`payment_reconciliation_backlog{kind}`): payments and refunds still
pending RECONCILE_AFTER_SECONDS after they started, measured at the start of every pass. It should
stay near zero: a growing backlog means a provider that does not answer, or webhooks that do not
arrive (docs/observability.md)."""

from __future__ import annotations

from datetime import datetime

from services.payment.context import PaymentContext


async def measure_backlog(ctx: PaymentContext, cutoff: datetime) -> None:
    stale = {"status": "pending", "created_at": {"$lte": cutoff}}
    ctx.metrics.backlog.labels("payment").set(await ctx.db.payments.count_documents(stale))
    ctx.metrics.backlog.labels("refund").set(await ctx.db.refunds.count_documents(stale))
