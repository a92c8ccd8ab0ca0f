"""Settlement: apply what a provider vouches for, exactly once.

Every event is verified before it gets here (signature, or the provider's own answer to execute /
verify / query). Then: match it to our payment and check our reference; a success must also carry
the payment's amount and currency, converted exactly from the provider's unit. One transaction
then stores the event in the inbox under its unique (provider, event id) — a duplicate stops there —
and applies it (capture.py, refunds/booking.py): payment succeeded/failed/cancelled, order paid,
refund booked, outbox event. Out-of-order events cannot corrupt state, because every change is a
guarded transition (a failure never undoes a success).

A success that is incomplete (no amount or currency) or does not match is never applied half-checked:
the provider is asked about the payment (`query_payment`) and its answer is settled instead. If that
answer still does not match, the capture is recorded as such, flagged and refunded (capture.py);
if it is still incomplete, nothing is applied and reconciliation asks again later.

A payment that succeeds for an order that already expired, was cancelled or was paid by another
payment is recorded, the order is not touched, and the payment is marked due for an automatic
refund in the same transaction: refunded right after, and by reconciliation until all of it is back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Literal

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.payment.context import PaymentContext
from services.payment.metrics import PaymentOutcome, SettlementSource
from services.payment.payments import capture, matching, repository
from services.payment.providers.base import ProviderError, ProviderEvent
from services.payment.refunds import booking
from services.payment.refunds import service as refunds
from shared.clock import utcnow
from shared.contracts.orders import PENDING_PAYMENT
from shared.db import Document
from shared.logging import log_event
from shared.telemetry import span

logger = logging.getLogger("payment.settlement")

Outcome = Literal["applied", "duplicate", "ignored", "rejected", "flagged"]
# Applied events that end a payment, and its outcome in `payments_total`.
SETTLED_PAYMENT: dict[str, PaymentOutcome] = {
    "payment_succeeded": "succeeded",
    "payment_failed": "failed",
    "payment_cancelled": "cancelled",
}
# An order can be paid only while it waits for payment.
PAYABLE_ORDER = PENDING_PAYMENT


async def settle(
    ctx: PaymentContext, provider: str, event: ProviderEvent, *, from_query: bool = False
) -> Outcome:
    """Apply one verified provider event once; duplicates and irrelevant events change nothing.

    `from_query`: the event is the provider's answer to our own question about the payment (so it is
    not asked again). Traced (`payment.settle`) and counted by source and outcome; an applied
    capture's time from here to the committed paid order is `payment_settlement_seconds`.
    """
    started = time.perf_counter()
    source: SettlementSource = "query" if from_query else "webhook"
    with span("payment.settle", {"payment.provider": provider, "payment.event": event.kind}) as current:
        outcome = await _settle(ctx, provider, event, from_query)
        current.set_attribute("payment.settlement", outcome)
    ctx.metrics.settled(provider, source, outcome)
    if outcome == "applied" and event.kind in SETTLED_PAYMENT:
        ctx.metrics.payment(provider, SETTLED_PAYMENT[event.kind])
        if event.kind == "payment_succeeded":
            ctx.metrics.settlement_seconds.labels(provider, source).observe(time.perf_counter() - started)
    return outcome


async def _settle(ctx: PaymentContext, provider: str, event: ProviderEvent, from_query: bool) -> Outcome:
    if event.kind == "payment_pending":
        return "ignored"
    payment = await _payment_for(ctx, provider, event)
    if payment is None:
        await _remember(ctx, provider, event, None, "unmatched")
        return "ignored"
    if matching.names_another_payment(payment, event):
        # The provider ties this payment to another of ours: nothing is applied, a person looks.
        if not await _remember(ctx, provider, event, payment["_id"], "rejected: reference"):
            return "duplicate"
        await repository.flag(ctx.db, payment["_id"], "reference_mismatch")
        capture.alert(ctx, provider, payment["_id"], "reference_mismatch", event_id=event.event_id)
        return "rejected"
    if event.kind.startswith("refund_") and payment["status"] == "pending" and not from_query:
        # Events come in any order: a refund of a capture that has not reached us yet. The provider's
        # word on the payment comes first (a refund can only follow a capture).
        await _ask_provider(ctx, provider, payment, event, "refund before capture", remember=False)
        payment = await repository.find_payment(ctx.db, payment["_id"]) or payment
    if event.kind == "payment_succeeded":
        problem = matching.problem_with(payment, event)
        if problem is not None and not from_query:
            return await _ask_provider(ctx, provider, payment, event, problem)
        if problem == "incomplete":
            log_event(
                logger,
                "payment.event_incomplete",
                logging.WARNING,
                provider=provider,
                event_id=event.event_id,
            )
            return "ignored"  # nothing applied: reconciliation asks again later
        if problem is not None:
            return await _mismatched(ctx, provider, payment, event, problem)
    return await _apply(ctx, provider, payment, event)


async def _apply(ctx: PaymentContext, provider: str, payment: Document, event: ProviderEvent) -> Outcome:
    alerts: list[capture.Alert] = []

    async def apply(session: AsyncClientSession) -> bool:
        alerts.clear()  # a re-run starts over
        await repository.insert_provider_event(
            ctx.db, _inbox_entry(provider, event, payment["_id"], "applied"), session
        )
        if event.kind == "payment_succeeded":
            return await capture.succeed(ctx, payment, event, session)
        if event.kind == "payment_failed":
            await capture.fail(ctx, payment, event, session)
        elif event.kind == "payment_cancelled":
            await capture.withdraw(ctx, payment, event, session)
        else:
            await booking.apply_provider_outcome(ctx, provider, payment, event, session, alerts)
        return False

    try:
        needs_refund = await ctx.transaction(apply)
    except DuplicateKeyError:
        return "duplicate"
    log_event(
        logger,
        "payment.event_applied",
        provider=provider,
        event_id=event.event_id,
        kind=event.kind,
        payment_id=str(payment["_id"]),
    )
    for raised in alerts:
        capture.alert(ctx, provider, payment["_id"], raised.reason, event_id=event.event_id, **raised.fields)
    if needs_refund:
        await refunds.refund_automatically(ctx, payment["_id"])
    return "applied"


async def _mismatched(
    ctx: PaymentContext, provider: str, payment: Document, event: ProviderEvent, problem: str
) -> Outcome:
    async def record(session: AsyncClientSession) -> bool:
        await repository.insert_provider_event(
            ctx.db, _inbox_entry(provider, event, payment["_id"], f"flagged: {problem}"), session
        )
        return await capture.mismatched(ctx, payment, event, problem, session)

    try:
        refundable = await ctx.transaction(record)
    except DuplicateKeyError:
        return "duplicate"
    capture.alert(
        ctx, provider, payment["_id"], problem, event_id=event.event_id,
        expected={"amount": payment["amount"], "currency": payment["currency"]},
        reported={"amount": event.amount, "currency": event.currency, "error": event.amount_error},
    )  # fmt: skip
    if refundable:
        await refunds.refund_automatically(ctx, payment["_id"])
    return "flagged"


async def _ask_provider(
    ctx: PaymentContext,
    provider: str,
    payment: Document,
    event: ProviderEvent,
    why: str,
    *,
    remember: bool = True,
) -> Outcome:
    """Settle the provider's own answer about the payment instead of an event we cannot apply as it
    is (`remember`: the event itself is then kept in the inbox as checked, and never applied)."""
    client = ctx.providers.get(provider)
    if client is None or not payment.get("provider_payment_id"):
        if event.kind == "payment_succeeded" and why != "incomplete":
            return await settle(ctx, provider, event, from_query=True)  # the signed event is all we have
        return "ignored"
    try:
        answer = await client.query_payment(payment["provider_payment_id"], str(payment["_id"]))
    except ProviderError as error:
        # Not remembered: a redelivery, or reconciliation, asks again.
        log_event(
            logger, "payment.check_failed", logging.WARNING, provider=provider,
            event_id=event.event_id, why=why, error=str(error)[:200],
        )  # fmt: skip
        return "ignored"
    log_event(logger, "payment.checked_at_provider", provider=provider, event_id=event.event_id, why=why)
    outcome = await settle(ctx, provider, answer, from_query=True)
    if remember:
        # After the answer: a provider whose answer carries the event's own id (Nagad, bKash) has
        # just stored it, and this is then a no-op.
        await _remember(ctx, provider, event, payment["_id"], f"checked at the provider: {why}")
    return outcome


async def _payment_for(ctx: PaymentContext, provider: str, event: ProviderEvent) -> Document | None:
    payment = await repository.find_by_provider_payment(ctx.db, provider, event.provider_payment_id)
    if payment is None and event.reference and ObjectId.is_valid(event.reference):
        candidate = await repository.find_payment(ctx.db, ObjectId(event.reference))
        if candidate is not None and candidate["provider"] == provider:
            payment = candidate
    return payment


async def _remember(
    ctx: PaymentContext, provider: str, event: ProviderEvent, payment_id: ObjectId | None, disposition: str
) -> bool:
    """Keep what was not applied too (support can see it); False for a duplicate, which is ignored."""
    try:
        await repository.insert_provider_event(ctx.db, _inbox_entry(provider, event, payment_id, disposition))
    except DuplicateKeyError:
        return False
    return True


def _inbox_entry(
    provider: str, event: ProviderEvent, payment_id: ObjectId | None, disposition: str
) -> Document:
    return {
        "provider": provider,
        **asdict(event),
        "payment_id": payment_id,
        "disposition": disposition,
        "received_at": utcnow(),
    }
