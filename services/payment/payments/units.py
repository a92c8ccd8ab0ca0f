"""Amounts a provider cannot represent are refused before anything is created (a payment, a refund)."""

from __future__ import annotations

from services.payment.payments.errors import AmountNotRepresentable
from shared.currencies import Unrepresentable, to_provider


def require_representable(provider: str, currency: str, amount: int, what: str) -> None:
    """422 amount-not-representable, naming the provider's rule, unless it can take `amount` exactly."""
    try:
        to_provider(provider, currency, amount)
    except Unrepresentable as error:
        raise AmountNotRepresentable(
            f"{provider} cannot take {what} of {amount} {currency} (minor units): {error.rule}.",
            provider=provider,
            currency=currency,
            amount=amount,
            rule=error.rule,
        ) from None
