"""Errors of the payments domain."""

from typing import Any

from shared.errors import AppError, Conflict, NotFound, ValidationFailed


class PaymentNotFound(NotFound):
    slug, title = "payment-not-found", "Payment not found"


class OrderNotPayable(Conflict):
    slug, title = "order-not-payable", "This order cannot be paid"


class PaymentAttemptsExhausted(Conflict):
    """The order has started as many provider payments as one order may; `limit` names the cap."""

    slug, title = "payment-attempts-exhausted", "This order has reached its limit of payment attempts"


class PaymentInProgress(Conflict):
    """Another request is still creating this order's payment with the provider: ask again shortly."""

    slug, title = "payment-in-progress", "A payment for this order is being started"

    def __init__(self, detail: str, *, retry_after_seconds: int, **extensions: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)}, **extensions)


class ProviderUnavailable(ValidationFailed):
    slug, title = "provider-unavailable", "This payment provider is not offered"


class AmountNotRepresentable(ValidationFailed):
    """The provider cannot take this amount in this currency; `rule` names its rule (see
    shared/currencies.py), `provider`, `currency` and `amount` (minor units) what was asked."""

    slug, title = "amount-not-representable", "The payment provider cannot take this amount"


class ProviderFailed(AppError):
    status, slug, title = 502, "provider-error", "The payment provider refused or did not answer"


class PaymentAlreadyInitialized(Conflict):
    """The provider already holds this payment from an earlier try whose answer was lost, and will not
    hand it out again (Nagad's `16_0006_083`): this payment failed; paying again starts a new one."""

    slug, title = "payment-already-initialized", "The provider already initialized this payment"
