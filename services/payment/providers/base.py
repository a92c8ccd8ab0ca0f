"""The one interface every payment provider implements, and what flows through it.

Provider calls happen outside any database transaction, each with the provider's own idempotency
key, so a retried call never charges or refunds twice. What a provider tells us (a webhook, a
callback it verified, an answer to a query) becomes a `ProviderEvent`, which settlement applies
exactly once.

Amounts cross this interface in our ISO 4217 minor units: each provider converts to its own unit
and back through `shared.currencies`, exactly or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

EventKind = Literal[
    "payment_succeeded",
    "payment_failed",
    "payment_pending",
    "payment_cancelled",  # withdrawn at the provider: no money can move any more
    "refund_succeeded",
    "refund_failed",
]
RefundState = Literal["pending", "succeeded", "failed"]


class ProviderError(Exception):
    """The provider refused or could not be reached; `retryable` says whether asking again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class AlreadyStarted(ProviderError):
    """The provider already holds this payment from an earlier request whose answer was lost, and
    cannot hand it out again (Nagad's duplicate order id): this payment cannot be started; a new one can."""


class InvalidNotification(Exception):
    """A webhook or callback failed verification (signature, age, amount, reference): ignore it."""


@dataclass(frozen=True)
class PaymentRequest:
    payment_id: str  # ours; sent to the provider as the reference it echoes back
    order_id: str
    amount: int  # minor units
    currency: str
    idempotency_key: str  # the provider-side idempotency key for this creation
    callback_url: str  # where a redirect-based provider sends the browser back
    # The shopper's address as the gateway vouches for it (Nagad's X-KM-IP-V4); None when unknown.
    client_ip: str | None = None


@dataclass(frozen=True)
class CreatedPayment:
    provider_payment_id: str
    client_secret: str | None = None  # Stripe: for the SPA's Payment Element
    redirect_url: str | None = None  # bKash, Nagad, sandbox: where to send the shopper


@dataclass(frozen=True)
class ProviderEvent:
    """Something the provider vouches for about one payment (or one of its refunds)."""

    event_id: str  # unique per provider: the key of the inbox
    kind: EventKind
    provider_payment_id: str
    amount: int | None = None  # in our minor units of `currency`
    currency: str | None = None
    reference: str | None = None  # our payment id, as the provider echoes it
    provider_refund_id: str | None = None
    refund_reference: str | None = None  # our refund id, as the provider echoes it (its metadata)
    # The provider reported an amount that is no whole number of our minor units (or in a currency
    # we cannot count): what it said, for the record; `amount` is then None.
    amount_error: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    refund_id: str
    provider_payment_id: str
    amount: int
    currency: str
    reason: str
    idempotency_key: str
    # When the payment was started at the provider (Nagad dates a refund by its original request).
    payment_started_at: datetime | None = None
    # For a provider that has neither idempotency keys nor our reference in its refund list (bKash),
    # how a refund whose answer was lost is told apart from the others: the provider's refund ids
    # listed just before it was sent (None: not recorded), the ids other refunds of ours own, and
    # where the provider records its listing before sending (the refund is not sent if that fails).
    listed_before: frozenset[str] | None = None
    owned_elsewhere: frozenset[str] = frozenset()
    record_listing: Callable[[frozenset[str]], Awaitable[None]] | None = field(
        default=None, compare=False, repr=False
    )


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    state: RefundState


class PaymentProvider(Protocol):
    name: str

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment: ...

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """The payment's state now, as an event (kind payment_pending when nothing is final)."""
        ...

    async def cancel_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """Withdraw a payment whose order closed: a payment_cancelled event when no money can move any
        more; else what the provider says now (succeeded: captured meanwhile; pending: it cannot
        withdraw, and a late payment will be refunded)."""
        ...

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult: ...

    async def aclose(self) -> None: ...


def header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")
