"""The Stripe client: PaymentIntents, their cancellation, refunds and queries, through the official
SDK's async client.

Every call carries our own idempotency key, so the SDK's retries (connection errors, timeouts, 409,
5xx) and ours can never charge or refund twice: Stripe replays the first answer for a repeated key.
Amounts go to Stripe in its unit and come back in ours (amounts.py). A PaymentIntent whose order
closed is cancelled (`cancel_payment`); refunds carry our refund id in their metadata, which is how
their webhooks and a lost answer are matched.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import stripe

from services.payment.providers.base import (
    CreatedPayment,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    RefundRequest,
    RefundResult,
)
from services.payment.providers.stripe.amounts import SUCCEEDED, ours, payment_kind, refund_state, to_stripe
from services.payment.providers.stripe.events import verified_events
from services.payment.settings import PaymentSettings
from shared.db import Database

T = TypeVar("T")

# How many refunds of one PaymentIntent a reconciliation looks through to find ours.
REFUND_LIST_LIMIT = 100


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
        """Verify a webhook with this endpoint's secret, then read it (events.py)."""
        return verified_events(payload, signature, self._webhook_secret, self._tolerance)

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK


def create(settings: PaymentSettings, db: Database) -> StripeProvider:
    return StripeProvider(settings)
