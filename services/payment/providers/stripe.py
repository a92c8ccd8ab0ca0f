"""The Stripe provider: PaymentIntents for the SPA's Payment Element, refunds, and signed webhooks.

Every call goes through the official SDK's async client with our own idempotency key, so the SDK's
retries (connection errors, timeouts, 409, 5xx) and ours can never charge or refund twice: Stripe
replays the first answer for a repeated key. Webhooks are verified on their raw bytes
(`Stripe-Signature`: HMAC-SHA256 of `{t}.{body}` under the endpoint secret, any of several `v1`
signatures, refused when older than the tolerance) before anything is parsed; then each event
becomes a `ProviderEvent` that settlement applies exactly once, keyed by Stripe's event id.

Amounts go to Stripe in its unit and come back in ours (`shared.currencies`: zero-decimal,
three-decimal and ISK rules), in payments, refunds, queries and webhooks alike. A PaymentIntent whose
order closed is cancelled (`cancel_payment`); refunds carry our refund id in their metadata, which
is how their webhooks are matched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Annotated, Any, TypeVar

import stripe
from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel

from services.payment.context import PaymentContext
from services.payment.payments.settlement import settle
from services.payment.providers.base import (
    CreatedPayment,
    EventKind,
    InvalidNotification,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    RefundRequest,
    RefundResult,
    RefundState,
)
from services.payment.settings import PaymentSettings
from shared.currencies import Unrepresentable, from_provider, to_provider
from shared.db import Database
from shared.errors import BadRequest
from shared.logging import log_event

logger = logging.getLogger("payment.stripe")

T = TypeVar("T")

SUCCEEDED = "succeeded"
REFUND_STATES: dict[str, RefundState] = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}
NAME = "stripe"
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})
# How many refunds of one PaymentIntent a reconciliation looks through to find ours.
REFUND_LIST_LIMIT = 100


class InvalidSignature(BadRequest):
    slug, title = "invalid-signature", "The webhook signature is missing, invalid or too old"


class InvalidWebhookPayload(BadRequest):
    slug, title = "invalid-webhook-payload", "The webhook body is not a Stripe event"


class UnreadableEvent(Exception):
    """A genuinely signed body that is not a Stripe event we can read."""


class WebhookReceived(BaseModel):
    received: bool = True


def _provider_error(error: stripe.StripeError) -> ProviderError:
    """Map an SDK error; only what may succeed when asked again (same key) is retryable."""
    status = error.http_status
    retryable = isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or (
        status is not None and (status == 409 or status >= 500)
    )
    # Type, status and code only: Stripe's messages may quote parameters we sent.
    return ProviderError(
        f"Stripe {type(error).__name__} (status {status}, code {error.code})", retryable=retryable
    )


async def _call(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except stripe.StripeError as error:
        raise _provider_error(error) from error


def _metadata(metadata: stripe.StripeObject | None, key: str) -> str | None:
    value = metadata[key] if metadata is not None and key in metadata else None
    return value if isinstance(value, str) else None


def to_stripe(currency: str, amount: int) -> int:
    """Our minor units in Stripe's unit; checked before anything is created, so a refusal here is a bug."""
    try:
        return to_provider(NAME, currency, amount)
    except Unrepresentable as error:
        raise ProviderError(f"Stripe cannot take this amount: {error.rule}") from error


def ours(currency: str | None, amount: int | None) -> tuple[int | None, str | None, str | None]:
    """A Stripe amount as (our minor units, our currency code, what did not convert)."""
    if currency is None or amount is None:
        return None, currency.upper() if currency else None, None
    try:
        return from_provider(NAME, currency, amount), currency.upper(), None
    except Unrepresentable as error:
        return None, currency.upper(), f"{amount} {currency}: {error.rule}"[:200]


def refund_state(status: str | None) -> RefundState:
    """`pending` and `requires_action` are not final yet; `canceled` gives the money back to no one."""
    return REFUND_STATES.get(status or "", "pending")


def payment_kind(status: str, failed_attempt: bool) -> EventKind:
    """A PI returns to `requires_payment_method` after a declined attempt (not terminal: the shopper
    may try another card); only `last_payment_error` tells that apart from "nothing tried yet"."""
    if status == SUCCEEDED:
        return "payment_succeeded"
    if status == "canceled":
        return "payment_cancelled"
    if status == "requires_payment_method" and failed_attempt:
        return "payment_failed"
    return "payment_pending"


class StripeProvider:
    name = "stripe"

    def __init__(self, settings: PaymentSettings) -> None:
        if settings.stripe_secret_key is None:
            raise ValueError("STRIPE_SECRET_KEY is required when the stripe provider is enabled")
        self._http = stripe.HTTPXClient(timeout=settings.provider_timeout_seconds)
        self._client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            http_client=self._http,
            max_network_retries=settings.provider_max_retries,
        )
        secret = settings.stripe_webhook_secret
        self._webhook_secret = secret.get_secret_value() if secret is not None else None
        self._tolerance = settings.stripe_webhook_tolerance_seconds

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        currency = request.currency.lower()
        amount = to_stripe(request.currency, request.amount)
        intent = await _call(
            self._client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": currency,
                    "automatic_payment_methods": {"enabled": True},
                    "metadata": {"payment_id": request.payment_id, "order_id": request.order_id},
                },
                {"idempotency_key": request.idempotency_key},
            )
        )
        # A replayed key answers with the first request's PaymentIntent: make sure it is this one.
        if intent.amount != amount or intent.currency != currency or not intent.client_secret:
            raise ProviderError("Stripe answered with a PaymentIntent that does not match the request")
        return CreatedPayment(provider_payment_id=intent.id, client_secret=intent.client_secret)

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        intent = await _call(self._client.v1.payment_intents.retrieve_async(provider_payment_id))
        return self._intent_event(f"query:{intent.id}:{intent.status}", intent)

    def _intent_event(self, event_id: str, intent: stripe.PaymentIntent) -> ProviderEvent:
        succeeded = intent.status == SUCCEEDED
        # What was captured: for a success, `amount_received` only (missing: the event is incomplete).
        reported = (intent.amount_received or None) if succeeded else intent.amount
        amount, currency, error = ours(intent.currency, reported)
        return ProviderEvent(
            event_id=event_id,
            kind=payment_kind(intent.status, intent.last_payment_error is not None),
            provider_payment_id=intent.id,
            amount=amount,
            currency=currency,
            reference=_metadata(intent.metadata, "payment_id"),
            amount_error=error,
        )

    async def cancel_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        try:
            intent = await _call(
                self._client.v1.payment_intents.cancel_async(
                    provider_payment_id,
                    {"cancellation_reason": "abandoned"},
                    {"idempotency_key": f"cancel-{payment_id}"},
                )
            )
        except ProviderError as error:
            if error.retryable:
                raise
            # Succeeded (or cancelled) meanwhile: Stripe refuses the cancel; its current state says.
            return await self.query_payment(provider_payment_id, payment_id)
        return self._intent_event(f"query:{intent.id}:{intent.status}", intent)

    async def refund(self, request: RefundRequest) -> RefundResult:
        refund = await _call(
            self._client.v1.refunds.create_async(
                {
                    "payment_intent": request.provider_payment_id,
                    "amount": to_stripe(request.currency, request.amount),
                    "reason": "requested_by_customer",
                    "metadata": {"refund_id": request.refund_id},
                },
                {"idempotency_key": request.idempotency_key},
            )
        )
        return RefundResult(provider_refund_id=refund.id, state=refund_state(refund.status))

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult:
        if provider_refund_id:
            refund = await _call(self._client.v1.refunds.retrieve_async(provider_refund_id))
            return RefundResult(provider_refund_id=refund.id, state=refund_state(refund.status))
        # Our call never got an answer: find the refund by our id, else ask again with the same key
        # (Stripe replays the original if it did arrive; if it did not, the refund is made now).
        listed = await _call(
            self._client.v1.refunds.list_async(
                {"payment_intent": request.provider_payment_id, "limit": REFUND_LIST_LIMIT}
            )
        )
        for refund in listed.data:
            if _metadata(refund.metadata, "refund_id") == request.refund_id:
                return RefundResult(provider_refund_id=refund.id, state=refund_state(refund.status))
        return await self.refund(request)

    def events_from_webhook(self, payload: bytes, signature: str | None) -> list[ProviderEvent]:
        """Verify a webhook on its raw bytes, then read it; InvalidNotification when it is not genuine."""
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature, self._webhook_secret, self._tolerance
            )
        except stripe.SignatureVerificationError as error:
            # The SDK's reasons (missing, unparsable, no match, too old) quote nothing secret.
            raise InvalidNotification(str(error.user_message or "invalid signature")[:80]) from error
        except UnicodeDecodeError as error:
            raise InvalidNotification("the body is not UTF-8") from error
        try:
            event = json.loads(payload)
        except ValueError as error:
            raise UnreadableEvent("the body is not JSON") from error
        return events_of(event)

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _number(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def events_of(event: object) -> list[ProviderEvent]:
    """What a verified Stripe event says about our payments; other event types say nothing."""
    if not isinstance(event, dict) or event.get("object") != "event":
        raise UnreadableEvent("not a Stripe event")
    event_id, event_type = _text(event, "id"), _text(event, "type")
    obj = _mapping(_mapping(event, "data"), "object")
    if event_id is None or event_type is None or not obj:
        raise UnreadableEvent("the event lacks id, type or data.object")
    if event_type == "payment_intent.succeeded":
        return _payment_events(event_id, "payment_succeeded", obj)
    if event_type == "payment_intent.payment_failed":
        return _payment_events(event_id, "payment_failed", obj)
    if event_type == "payment_intent.canceled":
        return _payment_events(event_id, "payment_cancelled", obj)
    if event_type in REFUND_EVENTS:
        return _refund_events(event_id, obj, failed=event_type == "refund.failed")
    if event_type == "charge.refunded":
        # The Charge carries cumulative totals; which refund it was for is known only when the
        # event includes the refund list (older API versions). Otherwise the refund.* events,
        # sent for every refund since 2024-10-28, carry it.
        refunds = _mapping(obj, "refunds").get("data")
        return [
            event
            for refund in (refunds if isinstance(refunds, list) else [])
            if isinstance(refund, dict)
            for event in _refund_events(f"{event_id}:{refund.get('id')}", refund, failed=False)
        ]
    return []


def _payment_events(event_id: str, kind: EventKind, intent: Mapping[str, Any]) -> list[ProviderEvent]:
    intent_id = _text(intent, "id")
    if intent_id is None:
        raise UnreadableEvent("the PaymentIntent has no id")
    reported = _number(intent, "amount")
    if kind == "payment_succeeded":
        # What was captured; an event without it is incomplete (settlement asks Stripe then).
        reported = _number(intent, "amount_received")
    amount, currency, error = ours(_text(intent, "currency"), reported)
    return [
        ProviderEvent(
            event_id=event_id,
            kind=kind,
            provider_payment_id=intent_id,
            amount=amount,
            currency=currency,
            reference=_text(_mapping(intent, "metadata"), "payment_id"),
            amount_error=error,
        )
    ]


def _refund_events(event_id: str, refund: Mapping[str, Any], *, failed: bool) -> list[ProviderEvent]:
    state = "failed" if failed else refund_state(_text(refund, "status"))
    refund_id, intent_id = _text(refund, "id"), _text(refund, "payment_intent")
    if state == "pending" or refund_id is None or intent_id is None:
        return []  # nothing final yet, or not a refund of a PaymentIntent (none of ours)
    amount, currency, error = ours(_text(refund, "currency"), _number(refund, "amount"))
    return [
        ProviderEvent(
            event_id=event_id,
            kind="refund_succeeded" if state == "succeeded" else "refund_failed",
            provider_payment_id=intent_id,
            amount=amount,
            currency=currency,
            provider_refund_id=refund_id,
            # Ours when we started it (we send our refund id); a dashboard refund has none.
            refund_reference=_text(_mapping(refund, "metadata"), "refund_id"),
            amount_error=error,
        )
    ]


def create(settings: PaymentSettings, db: Database) -> StripeProvider:
    return StripeProvider(settings)


def stripe_provider(request: Request) -> tuple[PaymentContext, StripeProvider]:
    ctx: PaymentContext = request.app.state.payment_context
    provider = ctx.provider("stripe")
    assert isinstance(provider, StripeProvider)
    return ctx, provider


router = APIRouter(prefix="/api/v1/payments/webhooks", tags=["payments"])


@router.post("/stripe", response_model=WebhookReceived, summary="Stripe webhook (signed by Stripe)")
async def stripe_webhook(
    request: Request,
    context: Annotated[tuple[PaymentContext, StripeProvider], Depends(stripe_provider)],
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookReceived:
    ctx, provider = context
    payload = await request.body()  # the exact bytes: the signature covers them, not a re-encoding
    try:
        events = provider.events_from_webhook(payload, stripe_signature)
    except InvalidNotification as error:
        log_event(logger, "stripe.webhook_rejected", logging.WARNING, reason=str(error))
        raise InvalidSignature("The Stripe-Signature header does not verify for this body.") from error
    except UnreadableEvent as error:
        log_event(logger, "stripe.webhook_unreadable", logging.WARNING, reason=str(error))
        raise InvalidWebhookPayload(str(error)) from error
    # Duplicates, unmatched and ignored events are acknowledged too: Stripe would only resend them.
    for event in events:
        outcome = await settle(ctx, "stripe", event)
        log_event(logger, "stripe.webhook_settled", event_id=event.event_id, kind=event.kind, outcome=outcome)
    return WebhookReceived()
