"""Payment use cases: start (or reuse) a payment for an order with a provider, read one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from services.payment.context import PaymentContext
from services.payment.payments import attempts, repository
from services.payment.payments.errors import (
    PaymentAlreadyInitialized,
    PaymentInProgress,
    PaymentNotFound,
    ProviderFailed,
)
from services.payment.payments.schemas import CreatePayment, Payment
from services.payment.payments.views import to_payment
from services.payment.providers.base import AlreadyStarted, PaymentProvider, PaymentRequest, ProviderError
from shared.clock import utcnow
from shared.db import Database, Document
from shared.idempotency import claim_or_replay
from shared.ids import to_object_id
from shared.logging import log_event
from shared.tokens import Principal

logger = logging.getLogger("payment.payments")


@dataclass(frozen=True)
class Started:
    payment: Payment
    replayed: bool  # the same Idempotency-Key again: the payment that key started
    reused: bool = False  # the order's pending payment with this provider, instead of a new one


# A reused payment that fails or is abandoned while we wait lets this request claim a new attempt;
# more rounds than this mean attempts keep failing under us: the caller is told to ask again.
CLAIM_ROUNDS = 3


async def start_payment(
    ctx: PaymentContext, user_id: str, body: CreatePayment, key: str, client_ip: str | None = None
) -> Started:
    """Start the provider payment for the caller's unpaid order, for the order's own total; reuse
    the order's pending payment with the same provider instead of starting a second one.
    `client_ip`: the shopper's address, for providers that want it."""
    once = await claim_or_replay(
        find=lambda: repository.find_by_key(ctx.db, user_id, key),
        # A payment keeps the request's fields themselves: the same order with the same provider.
        same_request=lambda existing: (
            str(existing["order_id"]) == body.order_id and existing["provider"] == body.provider
        ),
        create=lambda: _claim_and_start(ctx, user_id, body, key, client_ip),
        replay=lambda existing: _replayed(ctx, existing),
        what="payment",
    )
    return once.value


async def _claim_and_start(
    ctx: PaymentContext, user_id: str, body: CreatePayment, key: str, client_ip: str | None
) -> Started:
    provider = ctx.provider(body.provider)
    for _ in range(CLAIM_ROUNDS):
        try:
            claim = await attempts.claim(ctx, user_id, body, key)
        except DuplicateKeyError:
            if await repository.find_by_key(ctx.db, user_id, key) is not None:
                raise  # the same key, claimed concurrently: answered with that request's payment
            continue  # the conflict was on the order's attempt counter: claim again
        if claim.created:
            started = await _start_at_provider(ctx, provider, claim.payment, client_ip)
            return Started(started, replayed=False)
        if claim.payment["idempotency_key"] == key:
            return await _replayed(ctx, claim.payment)  # our own retry won the claim meanwhile
        current = await attempts.until_started(ctx, claim.payment)
        if current["status"] == "pending":
            log_event(logger, "payment.reused", payment_id=str(current["_id"]), order_id=body.order_id)
            return Started(to_payment(current), replayed=False, reused=True)
    raise PaymentInProgress(
        "This order's payments keep failing as they start; ask again shortly.", retry_after_seconds=1
    )


async def _start_at_provider(
    ctx: PaymentContext, provider: PaymentProvider, payment: Document, client_ip: str | None
) -> Payment:
    """Create the provider payment for a claimed attempt (outside any transaction)."""
    request = PaymentRequest(
        payment_id=str(payment["_id"]),
        order_id=str(payment["order_id"]),
        amount=payment["amount"],
        currency=payment["currency"],
        idempotency_key=f"payment-{payment['_id']}",
        callback_url=f"{ctx.settings.public_base_url}/api/v1/payments/callbacks/{provider.name}",
        client_ip=client_ip or None,
    )
    try:
        created = await provider.create_payment(request)
    except AlreadyStarted as error:
        await _record_failure(ctx.db, payment["_id"], str(error), "provider_already_initialized")
        raise PaymentAlreadyInitialized(
            "The provider already initialized this payment on an earlier try whose answer was lost, "
            "and will not hand it out again; pay again to start a new payment.",
            payment_id=str(payment["_id"]),
        ) from error
    except ProviderError as error:
        await _record_failure(ctx.db, payment["_id"], str(error))
        raise ProviderFailed(
            "The payment provider could not start the payment; try again or choose another.",
            payment_id=str(payment["_id"]),
        ) from error
    stored = await repository.record_created(
        ctx.db,
        payment["_id"],
        {
            "provider_payment_id": created.provider_payment_id,
            "client_secret": created.client_secret,
            "redirect_url": created.redirect_url,
        },
        utcnow(),
    )
    assert stored is not None
    log_event(
        logger,
        "payment.started",
        payment_id=str(payment["_id"]),
        provider=provider.name,
        order_id=str(payment["order_id"]),
    )
    return to_payment(stored)


async def _replayed(ctx: PaymentContext, existing: Document) -> Started:
    """The payment an earlier request with this key started, once it is started at the provider."""
    return Started(to_payment(await attempts.until_started(ctx, existing)), replayed=True)


async def _record_failure(
    db: Database, payment_id: ObjectId, reason: str, failure: str = "provider_error"
) -> None:
    now = utcnow()
    await repository.transition(
        db,
        payment_id,
        ["pending"],
        {"status": "failed", "failure_reason": failure, "updated_at": now},
        {"status": "failed", "at": now, "source": "provider_error"},
    )
    log_event(
        logger, "payment.provider_error", logging.WARNING, payment_id=str(payment_id), error=reason[:200]
    )


async def get_payment(db: Database, payment_id: str, caller: Principal) -> Payment:
    """One payment; another customer's payment does not exist for the caller (404)."""
    doc = await repository.find_payment(
        db, to_object_id(payment_id), user_id=None if caller.is_admin else caller.user_id
    )
    if doc is None:
        raise PaymentNotFound(f"No payment with id {payment_id}.")
    return to_payment(doc, admin=caller.is_admin)
