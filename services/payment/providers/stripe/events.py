"""Stripe's webhooks: verified on their raw bytes, then read as `ProviderEvent`s.

`Stripe-Signature` is `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`: an HMAC-SHA256 of `{t}.{body}`
under the endpoint's whole `whsec_` secret. Any `v1` may match (several during a secret rotation);
other schemes are ignored, and a timestamp older than the tolerance is refused (replays). Nothing of
the body is parsed before the signature holds. Then each event type we act on becomes an event for
settlement, keyed by Stripe's event id; the others say nothing about our payments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe

from services.payment.providers.base import EventKind, InvalidNotification, ProviderEvent
from services.payment.providers.stripe.amounts import ours, refund_state

REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})


class UnreadableEvent(Exception):
    """A genuinely signed body that is not a Stripe event we can read."""


def verified_events(
    payload: bytes, signature: str | None, secret: str | None, tolerance_seconds: int
) -> list[ProviderEvent]:
    """Verify a webhook on its raw bytes, then read it; InvalidNotification when it is not genuine."""
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, tolerance_seconds)
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
