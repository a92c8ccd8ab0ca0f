"""Stripe's webhook: verified on its raw bytes (providers/stripe/events.py), then settled.

Every genuine event is acknowledged (200), duplicates and events about nothing of ours included:
Stripe would only send them again. A bad or stale signature is a 400, and nothing is read.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel

from services.payment.context import Context
from services.payment.payments.settlement import settle
from services.payment.providers.base import InvalidNotification
from services.payment.providers.stripe import StripeProvider, UnreadableEvent
from shared.errors import BadRequest
from shared.logging import log_event

logger = logging.getLogger("payment.stripe")


class InvalidSignature(BadRequest):
    slug, title = "invalid-signature", "The webhook signature is missing, invalid or too old"


class InvalidWebhookPayload(BadRequest):
    slug, title = "invalid-webhook-payload", "The webhook body is not a Stripe event"


class WebhookReceived(BaseModel):
    received: bool = True


def stripe_provider(ctx: Context) -> StripeProvider:
    provider = ctx.provider("stripe")
    assert isinstance(provider, StripeProvider)
    return provider


router = APIRouter(prefix="/api/v1/payments/webhooks", tags=["payments"])


@router.post("/stripe", response_model=WebhookReceived, summary="Stripe webhook (signed by Stripe)")
async def stripe_webhook(
    request: Request,
    ctx: Context,
    provider: Annotated[StripeProvider, Depends(stripe_provider)],
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookReceived:
    payload = await request.body()  # the exact bytes: the signature covers them, not a re-encoding
    try:
        events = provider.events_from_webhook(payload, stripe_signature)
    except InvalidNotification as error:
        log_event(logger, "stripe.webhook_rejected", logging.WARNING, reason=str(error))
        ctx.metrics.webhook_refused("stripe")
        raise InvalidSignature("The Stripe-Signature header does not verify for this body.") from error
    except UnreadableEvent as error:
        log_event(logger, "stripe.webhook_unreadable", logging.WARNING, reason=str(error))
        raise InvalidWebhookPayload(str(error)) from error
    for event in events:
        outcome = await settle(ctx, "stripe", event)
        log_event(logger, "stripe.webhook_settled", event_id=event.event_id, kind=event.kind, outcome=outcome)
    return WebhookReceived()
