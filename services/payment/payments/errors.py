"""Errors of the payments domain."""

from shared.errors import AppError, Conflict, NotFound, ValidationFailed
from shared.idempotency import IdempotencyKeyReused


class PaymentNotFound(NotFound):
    slug, title = "payment-not-found", "Payment not found"


class OrderNotPayable(Conflict):
    slug, title = "order-not-payable", "This order cannot be paid"


class ProviderUnavailable(ValidationFailed):
    slug, title = "provider-unavailable", "This payment provider is not offered"


class ProviderFailed(AppError):
    status, slug, title = 502, "provider-error", "The payment provider refused or did not answer"


# Same problem as for orders: one type for every Idempotency-Key mismatch.
PaymentKeyReused = IdempotencyKeyReused
