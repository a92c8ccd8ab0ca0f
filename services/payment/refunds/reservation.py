"""Reserving a refund: one transaction decides it against the payment and the order as they are now.

Money: the amount is held against the payment (refunded + held + amount <= captured, a guarded
update), so concurrent refunds, manual or automatic, never give back more than was captured. What
was captured is the provider's figure (in the currency it captured), and an amount the provider
cannot represent (Stripe's three-decimal rule, say) is refused before anything is held.

Stock: units can go back only while the order still holds them as sold, that is while this payment
is the one that paid the order and the order's fulfilment is paid, shipped or delivered. An
order that was cancelled or expired returned its units when it closed; a payment that arrived for
it afterwards (or a second payment for an order another payment had paid) gives back money, never
stock, and never moves the order's status. Units held by pending refunds count as returned.

Everything the decision reads is read in the transaction, and everything it holds is written there
(the payment's hold, the lines' holds), so a concurrent change to either makes one of the two
transactions retry on fresh data: no decision rests on a stale read.
"""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.context import PaymentContext
from services.payment.orders import repository as orders
from services.payment.payments import repository as payments
from services.payment.payments.units import require_representable
from services.payment.refunds import repository
from services.payment.refunds.errors import PaymentNotRefundable, RefundExceedsRefundable
from services.payment.refunds.limits import (
    REFUNDABLE_PAYMENT,
    amount_asked,
    captured_currency,
    check_restockable,
    refundable_amount,
)
from services.payment.refunds.schemas import CreateRefund
from shared.audit import Action, Caller, Target, audit
from shared.clock import utcnow
from shared.contracts.orders import holds_sale
from shared.db import Document
from shared.ids import unguessable_object_id

SYSTEM = "system:settlement"


@dataclass(frozen=True)
class RefundAsk:
    """What is asked for; `amount` None means the named lines' value, or else all that is left."""

    amount: int | None
    lines: list[Document]
    reason: str
    key: str | None  # None: an automatic refund, keyed by its own id
    fingerprint: str
    actor: str
    caller: Caller | None = None  # who is audited as asking: an admin from a request, else the system

    @property
    def automatic(self) -> bool:
        return self.key is None

    @classmethod
    def of(cls, body: CreateRefund, key: str, fingerprint: str, caller: Caller) -> RefundAsk:
        """An admin's refund request."""
        lines = [
            {"product_id": ObjectId(line.product_id), "quantity": line.quantity} for line in body.items or []
        ]
        return cls(body.amount, lines, body.reason, key, fingerprint, caller.actor.id, caller)


def automatic_ask() -> RefundAsk:
    reason = "the order could not take this payment (closed, paid otherwise, or not the amount asked)"
    return RefundAsk(None, [], reason, None, "auto", SYSTEM)


async def reserve(ctx: PaymentContext, payment_id: ObjectId, ask: RefundAsk) -> Document | None:
    """Hold the refund's amount and units and insert it (pending), in one transaction.

    Returns the refund; None only for an automatic refund that finds nothing left to hold. Raises
    DuplicateKeyError for a concurrent request with the same Idempotency-Key.
    """

    async def run(session: AsyncClientSession) -> Document | None:
        payment = await payments.find_payment(ctx.db, payment_id, session=session)
        assert payment is not None
        left = refundable_amount(payment)
        if ask.automatic and left <= 0:
            if payment.get("refund_pending_amount", 0) == 0:
                await repository.clear_auto_refund(ctx.db, payment_id, session)
            return None  # all refunded, or the rest is being refunded (its failure makes it due again)
        if payment["status"] not in REFUNDABLE_PAYMENT:
            raise PaymentNotRefundable(f"A {payment['status']} payment has nothing to refund.")
        order = await orders.find_order(ctx.db, payment["order_id"], session)
        holds = holds_sale(order, payment["_id"])
        if ask.lines:
            check_restockable(order if holds else None, ask.lines)
        amount = amount_asked(ask.amount, ask.lines, order, left)
        currency = captured_currency(payment)
        if amount < 1 or amount > left:
            raise RefundExceedsRefundable(
                f"At most {left} can be refunded now (captured minus refunded and pending refunds).",
                refundable={"amount": left, "currency": currency},
            )
        require_representable(payment["provider"], currency, amount, "a refund")
        refund = _new_refund(payment, amount, ask, affects_order=holds and not ask.automatic)
        await repository.insert_refund(ctx.db, refund, session)
        for line in ask.lines:
            await orders.reserve_restock(
                ctx.db, payment["order_id"], line["product_id"], line["quantity"], session
            )
        # The contended write, last; its guard holds even if a concurrent hold slipped in.
        held = await repository.reserve_amount(ctx.db, payment_id, amount, session)
        if held is None:
            raise RefundExceedsRefundable(
                f"At most {left} can be refunded now (captured minus refunded and pending refunds).",
                refundable={"amount": left, "currency": currency},
            )
        await _audit_reservation(ctx, ask, payment, held, refund, session)
        return refund

    return await ctx.transaction(run)


async def _audit_reservation(
    ctx: PaymentContext,
    ask: RefundAsk,
    payment: Document,
    held: Document,
    refund: Document,
    session: AsyncClientSession,
) -> None:
    """The refund's audit record, in its reservation's transaction: it exists iff the hold committed."""
    await audit(
        ctx.db,
        Action.REFUND_REQUESTED,
        ask.caller or Caller.system("settlement"),
        Target("payment", str(payment["_id"])),
        session,
        before=_money(payment),
        after=_money(held),
        details={
            "refund_id": refund["_id"],
            "order_id": refund["order_id"],
            "amount": refund["amount"],
            "currency": refund["currency"],
            "restock": [
                {"product_id": line["product_id"], "quantity": line["quantity"]} for line in ask.lines
            ],
            "reason": ask.reason,
            "automatic": ask.automatic,
        },
    )


def _money(payment: Document) -> Document:
    """What a refund moves on its payment."""
    return {
        "status": payment.get("status"),
        "refunded_amount": payment.get("refunded_amount", 0),
        "refund_pending_amount": payment.get("refund_pending_amount", 0),
    }


def _new_refund(payment: Document, amount: int, ask: RefundAsk, *, affects_order: bool) -> Document:
    now = utcnow()
    refund_id = unguessable_object_id()
    return {
        "_id": refund_id,
        "payment_id": payment["_id"],
        "order_id": payment["order_id"],
        "amount": amount,
        "currency": captured_currency(payment),  # what the provider holds
        "items": ask.lines,
        "reason": ask.reason,
        "status": "pending",
        "idempotency_key": ask.key or f"auto-{refund_id}",
        "fingerprint": ask.fingerprint,
        "automatic": ask.automatic,
        "affects_order": affects_order,
        "by": ask.actor,
        "provider_refund_id": None,
        "created_at": now,
        "updated_at": now,
    }
