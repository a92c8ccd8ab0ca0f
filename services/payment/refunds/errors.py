"""Errors of the refunds domain."""

from shared.errors import Conflict, ValidationFailed


class RefundExceedsRefundable(ValidationFailed):
    slug, title = "refund-exceeds-refundable", "The refund is larger than what can be refunded"


class RestockExceedsSold(ValidationFailed):
    slug, title = "restock-exceeds-sold", "The refund returns more units than were sold and not yet returned"


class PaymentNotRefundable(Conflict):
    slug, title = "payment-not-refundable", "This payment has no captured money to refund"
