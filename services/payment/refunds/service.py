"""Refund use cases: request (validated and reserved), then apply the provider's answer exactly once.

A request holds its amount against the payment and its units against the order's lines in one
transaction, so concurrent refunds can never exceed what was captured or sold. The provider call
follows, with the refund's own idempotency key. Its success, reported synchronously or by webhook
(whichever comes first; the other finds the refund no longer pending), records the refund,
updates payment and order statuses and returns the units to stock, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.payment.context import PaymentContext
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentKeyReused, PaymentNotFound
from services.payment.providers.base import ProviderError, ProviderEvent, RefundRequest
from services.payment.refunds import repository
from services.payment.refunds.errors import PaymentNotRefundable, RefundExceedsRefundable, RestockExceedsSold
from services.payment.refunds.schemas import CreateRefund, Refund, RestockLine
from shared.clock import utcnow
from shared.db import Document, with_transaction
from shared.ids import to_object_id
from shared.logging import log_event
from shared.money import Money

logger = logging.getLogger("payment.refunds")
SYSTEM = "system:settlement"


@dataclass(frozen=True)
class Requested:
    refund: Refund
    replayed: bool


def to_refund(doc: Document) -> Refund:
    return Refund(
        id=str(doc["_id"]),
        payment_id=str(doc["payment_id"]),
        order_id=str(doc["order_id"]),
        status=doc["status"],
        amount=Money(amount=doc["amount"], currency=doc["currency"]),
        items=[
            RestockLine(product_id=str(line["product_id"]), quantity=line["quantity"])
            for line in doc["items"]
        ],
        reason=doc["reason"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _fingerprint(body: CreateRefund) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


async def request_refund(
    ctx: PaymentContext, payment_id: str, body: CreateRefund, key: str, actor: str
) -> Requested:
    """Validate, reserve and ask the provider; replays of the same key return the same refund."""
    payment = await payments.find_payment(ctx.db, to_object_id(payment_id))
    if payment is None:
        raise PaymentNotFound(f"No payment with id {payment_id}.")
    existing = await repository.find_by_key(ctx.db, payment["_id"], key)
    if existing is not None:
        return _replay(existing, _fingerprint(body))
    if payment["status"] not in repository.REFUNDABLE_PAYMENT:
        raise PaymentNotRefundable(f"A {payment['status']} payment has nothing to refund.")
    order = await ctx.db.orders.find_one({"_id": payment["order_id"]})
    assert order is not None
    lines = [
        {"product_id": ObjectId(line.product_id), "quantity": line.quantity} for line in body.items or []
    ]
    amount = body.amount if body.amount is not None else _default_amount(payment, order, lines)
    refund = _new_refund(
        payment, amount, lines, body.reason, key, _fingerprint(body), actor, affects_order=True
    )
    try:
        await _reserve(ctx, payment, refund)
    except DuplicateKeyError:
        claimed = await repository.find_by_key(ctx.db, payment["_id"], key)
        assert claimed is not None
        return _replay(claimed, refund["fingerprint"])
    log_event(logger, "refund.requested", refund_id=str(refund["_id"]), payment_id=payment_id, amount=amount)
    await _ask_provider(ctx, payment, refund)
    stored = await repository.find_refund(ctx.db, refund["_id"])
    assert stored is not None
    return Requested(to_refund(stored), replayed=False)


def _replay(existing: Document, fingerprint: str) -> Requested:
    if existing["fingerprint"] != fingerprint:
        raise PaymentKeyReused("This Idempotency-Key was used for a different refund request; use a new key.")
    return Requested(to_refund(existing), replayed=True)


def _default_amount(payment: Document, order: Document, lines: list[Document]) -> int:
    if lines:
        prices = {line["product_id"]: line["unit_price"]["amount"] for line in order["items"]}
        return sum(prices.get(line["product_id"], 0) * line["quantity"] for line in lines)
    return int(
        payment["amount"] - payment.get("refunded_amount", 0) - payment.get("refund_pending_amount", 0)
    )


def _new_refund(
    payment: Document,
    amount: int,
    lines: list[Document],
    reason: str,
    key: str,
    fingerprint: str,
    actor: str,
    *,
    affects_order: bool,
) -> Document:
    now = utcnow()
    return {
        "_id": ObjectId(),
        "payment_id": payment["_id"],
        "order_id": payment["order_id"],
        "amount": amount,
        "currency": payment["currency"],
        "items": lines,
        "reason": reason,
        "status": "pending",
        "idempotency_key": key,
        "fingerprint": fingerprint,
        "affects_order": affects_order,
        "by": actor,
        "provider_refund_id": None,
        "created_at": now,
        "updated_at": now,
    }


async def _reserve(ctx: PaymentContext, payment: Document, refund: Document) -> None:
    async def reserve(session: AsyncClientSession) -> None:
        if (
            refund["amount"] < 1
            or await repository.reserve_amount(ctx.db, payment["_id"], refund["amount"], session) is None
        ):
            current = await payments.find_payment(ctx.db, payment["_id"], session=session)
            assert current is not None
            limit = (
                current["amount"]
                - current.get("refunded_amount", 0)
                - current.get("refund_pending_amount", 0)
            )
            raise RefundExceedsRefundable(
                f"At most {limit} can be refunded now (captured minus refunded and pending refunds).",
                refundable={"amount": limit, "currency": payment["currency"]},
            )
        order = await ctx.db.orders.find_one({"_id": payment["order_id"]}, session=session)
        assert order is not None
        _check_restockable(order, refund["items"])
        for line in refund["items"]:
            await repository.reserve_restock(
                ctx.db, order["_id"], line["product_id"], line["quantity"], session
            )
        await repository.insert_refund(ctx.db, refund, session)

    await with_transaction(ctx.client, reserve, timeout_seconds=ctx.timeout)


def _check_restockable(order: Document, lines: list[Document]) -> None:
    sold = {line["product_id"]: line for line in order["items"]}
    problems = []
    for line in lines:
        ordered = sold.get(line["product_id"])
        left = (
            0
            if ordered is None
            else ordered["quantity"]
            - ordered.get("restocked_quantity", 0)
            - ordered.get("restock_pending", 0)
        )
        if line["quantity"] > left:
            problems.append(
                {"product_id": str(line["product_id"]), "requested": line["quantity"], "restockable": left}
            )
    if problems:
        raise RestockExceedsSold(
            "Some lines return more units than were sold and not yet returned.", lines=problems
        )


async def _ask_provider(ctx: PaymentContext, payment: Document, refund: Document) -> None:
    provider = ctx.providers.get(payment["provider"])
    if provider is None:
        return  # provider switched off: reconciliation retries once it is back
    request = refund_request(payment, refund)
    try:
        result = await provider.refund(request)
    except ProviderError as error:
        log_event(
            logger,
            "refund.provider_error",
            logging.WARNING,
            refund_id=str(refund["_id"]),
            retryable=error.retryable,
        )
        if not error.retryable:
            await finish_refund(ctx, refund["_id"], succeeded=False)
        return
    await repository.record_provider_refund(ctx.db, refund["_id"], result.provider_refund_id, utcnow())
    if result.state != "pending":
        await finish_refund(ctx, refund["_id"], succeeded=result.state == "succeeded")


def refund_request(payment: Document, refund: Document) -> RefundRequest:
    return RefundRequest(
        refund_id=str(refund["_id"]),
        provider_payment_id=payment["provider_payment_id"],
        amount=refund["amount"],
        currency=refund["currency"],
        reason=refund["reason"],
        idempotency_key=f"refund-{refund['_id']}",
    )


async def finish_refund(ctx: PaymentContext, refund_id: ObjectId, *, succeeded: bool) -> None:
    async def finish(session: AsyncClientSession) -> None:
        await finish_in(ctx, refund_id, succeeded, session)

    await with_transaction(ctx.client, finish, timeout_seconds=ctx.timeout)


async def finish_in(
    ctx: PaymentContext, refund_id: ObjectId, succeeded: bool, session: AsyncClientSession
) -> None:
    """Book a refund's outcome once: statuses, holds, outbox, and (last) the units back in stock."""
    now = utcnow()
    done = await repository.finish(
        ctx.db, refund_id, "succeeded" if succeeded else "failed", {"updated_at": now}, session
    )
    if done is None:
        return  # already booked (by the synchronous answer or the webhook, whichever came first)
    payment = await repository.book_on_payment(
        ctx.db, done["payment_id"], done["amount"], succeeded, now, session
    )
    assert payment is not None
    if done["affects_order"]:
        status = payment["status"] if succeeded else None
        await repository.book_on_order(
            ctx.db, done["order_id"], done["items"], status, f"refund:{refund_id}", now, succeeded, session
        )
    await payments.insert_outbox(
        ctx.db,
        {
            "_id": ObjectId(),
            "type": "RefundIssued" if succeeded else "RefundFailed",
            "refund_id": refund_id,
            "payment_id": done["payment_id"],
            "amount": done["amount"],
            "created_at": now,
            "published_at": None,
        },
        session,
    )
    if succeeded and done["items"]:
        await repository.return_units(ctx.db, done["items"], now, session)
    log_event(logger, "refund.succeeded" if succeeded else "refund.failed", refund_id=str(refund_id))


async def apply_provider_outcome(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> None:
    """A refund webhook, inside settlement's transaction: book it if it is one of ours and still pending."""
    refund = None
    if event.provider_refund_id:
        refund = await repository.find_by_provider_refund(ctx.db, payment["_id"], event.provider_refund_id)
    if refund is None:
        # The webhook can arrive before the synchronous answer recorded the provider's refund id: only
        # a refund with no provider id yet can be it (not one a dashboard refund happens to equal).
        pending = await repository.pending_for_payment(ctx.db, payment["_id"], session)
        refund = next(
            (c for c in pending if c["amount"] == event.amount and c.get("provider_refund_id") is None), None
        )
    if refund is None:
        return
    if refund["status"] == "succeeded" and event.kind == "refund_failed":
        # The provider took back a refund it had confirmed: the money did not go back. People decide.
        await repository.flag_for_attention(
            ctx.db, refund["_id"], payment["_id"], "refund_failed_after_success", session
        )
        log_event(logger, "refund.failed_after_success", logging.WARNING, refund_id=str(refund["_id"]))
        return
    await finish_in(ctx, refund["_id"], event.kind == "refund_succeeded", session)


async def refund_unpayable(ctx: PaymentContext, payment_id: ObjectId) -> None:
    """Money captured for an order that had already expired or was cancelled goes back, in full, once."""
    payment = await payments.find_payment(ctx.db, payment_id)
    assert payment is not None
    refund = _new_refund(
        payment,
        payment["amount"],
        [],
        "order closed before the payment completed",
        f"auto-{payment_id}",
        "auto",
        SYSTEM,
        affects_order=False,
    )
    try:
        await _reserve(ctx, payment, refund)
    except (DuplicateKeyError, RefundExceedsRefundable):
        return  # already refunded (or being refunded)
    log_event(logger, "refund.automatic", payment_id=str(payment_id), order_id=str(payment["order_id"]))
    await _ask_provider(ctx, payment, refund)
