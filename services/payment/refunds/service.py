"""Refund use cases: an admin's refund, and the automatic refund of money captured for a closed order.

Either is first reserved (reservation.py: one transaction against the payment's refundable amount
and the order's state and units), then asked of the provider with the refund's own idempotency
key. The provider's answer is booked once (booking.py).

An automatic refund covers whatever of the payment is neither refunded nor being refunded, so it
completes the payment whatever admins refunded meanwhile. The payment stays due until it is fully
refunded: a reservation or provider call that fails, or a refund that fails later, is retried by the
reconciler, counted in `payment_refund_failures_total` and logged as a warning; none is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging

from bson import ObjectId
from pymongo.errors import PyMongoError

from services.payment.context import PaymentContext
from services.payment.metrics import RefundKind, RefundStage
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.providers.base import ProviderError, RefundRequest
from services.payment.refunds import repository
from services.payment.refunds.booking import finish_refund
from services.payment.refunds.reservation import RefundAsk, automatic_ask, reserve
from services.payment.refunds.schemas import CreateRefund, Refund, RefundList, RestockLine
from shared.audit import Caller
from shared.clock import utcnow
from shared.db import Document
from shared.errors import AppError
from shared.idempotency import Once, claim_or_replay, fingerprint
from shared.ids import to_object_id
from shared.logging import log_event
from shared.money import MoneyOut

logger = logging.getLogger("payment.refunds")
AUTO_REFUND_MAX_BACKOFF_SECONDS = 3600.0
# Refunds of one payment listed at most (each moves money, and a payment's refunds are few).
MAX_LISTED = 500


def to_refund(doc: Document) -> Refund:
    return Refund(
        id=str(doc["_id"]),
        payment_id=str(doc["payment_id"]),
        order_id=str(doc["order_id"]),
        status=doc["status"],
        amount=MoneyOut(amount=doc["amount"], currency=doc["currency"]),
        items=[
            RestockLine(product_id=str(line["product_id"]), quantity=line["quantity"])
            for line in doc["items"]
        ],
        reason=doc["reason"],
        automatic=bool(doc.get("automatic")),
        external=bool(doc.get("external")),
        attention=doc.get("attention"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _spaced_fingerprint(body: CreateRefund) -> str:
    """How refunds were fingerprinted before the shared form (json's default separators); refund
    keys never expire, so a retry of such a refund is still recognised."""
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


async def request_refund(
    ctx: PaymentContext, payment_id: str, body: CreateRefund, key: str, caller: Caller
) -> Once[Refund]:
    """Validate, reserve and ask the provider; replays of the same key return the same refund."""
    payment = await payments.find_payment(ctx.db, to_object_id(payment_id))
    if payment is None:
        raise PaymentNotFound(f"No payment with id {payment_id}.")
    asked = fingerprint(body)
    known_prints = {asked, _spaced_fingerprint(body)}

    async def replay(existing: Document) -> Refund:
        return to_refund(existing)

    return await claim_or_replay(
        find=lambda: repository.find_by_key(ctx.db, payment["_id"], key),
        same_request=lambda existing: existing["fingerprint"] in known_prints,
        create=lambda: _request(ctx, payment, RefundAsk.of(body, key, asked, caller)),
        replay=replay,
        what="refund",
    )


async def _request(ctx: PaymentContext, payment: Document, ask: RefundAsk) -> Refund:
    refund = await reserve(ctx, payment["_id"], ask)
    assert refund is not None  # only an automatic refund can find nothing to hold
    log_event(
        logger,
        "refund.requested",
        refund_id=str(refund["_id"]),
        payment_id=str(payment["_id"]),
        amount=refund["amount"],
    )
    await ask_provider(ctx, payment, refund)
    stored = await repository.find_refund(ctx.db, refund["_id"])
    assert stored is not None
    return to_refund(stored)


async def list_refunds(ctx: PaymentContext, payment_id: str) -> RefundList:
    """A payment's refunds, ours and those made at the provider, oldest first (admins)."""
    payment = await payments.find_payment(ctx.db, to_object_id(payment_id))
    if payment is None:
        raise PaymentNotFound(f"No payment with id {payment_id}.")
    docs = await repository.list_for_payment(ctx.db, payment["_id"], MAX_LISTED)
    return RefundList(items=[to_refund(doc) for doc in docs])


async def refund_automatically(ctx: PaymentContext, payment_id: ObjectId) -> None:
    """Give back whatever of a payment for a closed order is neither refunded nor being refunded.

    Called after settlement finds the order closed, and by reconciliation while the payment is due;
    concurrent calls are safe (the reservation's guard lets one hold the rest). A failed try is
    alarmed and scheduled again, backing off up to an hour, never dropped.
    """
    try:
        refund = await reserve(ctx, payment_id, automatic_ask())
    except (PyMongoError, TimeoutError, AppError) as error:
        _alarm(ctx, "automatic", "reserve", payment_id=str(payment_id), error=type(error).__name__)
        await _try_again_later(ctx, payment_id)
        return
    if refund is None:
        return
    log_event(logger, "refund.automatic", payment_id=str(payment_id), amount=refund["amount"])
    payment = await payments.find_payment(ctx.db, payment_id)
    assert payment is not None
    if not await ask_provider(ctx, payment, refund):
        await _try_again_later(ctx, payment_id)


async def _try_again_later(ctx: PaymentContext, payment_id: ObjectId) -> None:
    payment = await payments.find_payment(ctx.db, payment_id)
    if payment is None or payment.get("auto_refund_due_since") is None:
        return
    wait = ctx.settings.reconcile_backoff(
        payment.get("auto_refund_failures", 0), AUTO_REFUND_MAX_BACKOFF_SECONDS
    )
    await repository.postpone_auto_refund(ctx.db, payment_id, utcnow() + wait)


async def ask_provider(ctx: PaymentContext, payment: Document, refund: Document) -> bool:
    """Send a reserved refund to the provider and book a final answer; False (alarmed) if it failed."""
    kind: RefundKind = "automatic" if refund.get("automatic") else "manual"
    provider = ctx.providers.get(payment["provider"])
    if provider is None:
        # Stays pending (money held): reconciliation settles it once the provider is enabled again.
        _alarm(ctx, kind, "provider_unavailable", refund_id=str(refund["_id"]), provider=payment["provider"])
        return False
    try:
        result = await provider.refund(await refund_request(ctx, payment, refund, sending=True))
    except ProviderError as error:
        _alarm(ctx, kind, "provider", refund_id=str(refund["_id"]), retryable=error.retryable)
        if not error.retryable:
            await finish_refund(ctx, refund["_id"], succeeded=False)
        return False  # a retryable failure stays pending: reconciliation asks the provider about it
    ctx.metrics.refund(kind, result.state)
    await repository.record_provider_refund(ctx.db, refund["_id"], result.provider_refund_id, utcnow())
    if result.state != "pending":
        await finish_refund(ctx, refund["_id"], succeeded=result.state == "succeeded")
    if result.state == "failed":
        _alarm(ctx, kind, "provider", refund_id=str(refund["_id"]), declined=True)
        return False
    return True


def _alarm(ctx: PaymentContext, kind: RefundKind, stage: RefundStage, **fields: object) -> None:
    ctx.metrics.refund_failed(kind, stage)
    log_event(logger, "refund.failure", logging.WARNING, kind=kind, stage=stage, **fields)


async def refund_request(
    ctx: PaymentContext, payment: Document, refund: Document, *, sending: bool = False
) -> RefundRequest:
    """What a provider is told about one of our refunds; `sending`: it is about to be sent, and a
    provider that lists the payment's refunds first may record that list with it."""

    async def record_listing(listed: frozenset[str]) -> None:
        try:
            await repository.record_listing(ctx.db, refund["_id"], listed)
        except PyMongoError as error:
            raise ProviderError(
                "The refund was not sent: its provider's refund list could not be recorded."
            ) from error

    listed = refund.get("provider_listed_before")
    return RefundRequest(
        refund_id=str(refund["_id"]),
        provider_payment_id=payment["provider_payment_id"],
        amount=refund["amount"],
        currency=refund["currency"],
        reason=refund["reason"],
        idempotency_key=f"refund-{refund['_id']}",
        payment_started_at=payment.get("created_at"),
        listed_before=None if listed is None else frozenset(listed),
        owned_elsewhere=await repository.provider_ids_owned(ctx.db, payment["_id"], refund["_id"]),
        record_listing=record_listing if sending else None,
    )
