"""What the payment use cases share: the database, settings, the enabled providers and the alarms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from services.payment.metrics import PaymentMetrics
from services.payment.payments.errors import ProviderUnavailable
from services.payment.providers.base import PaymentProvider
from services.payment.settings import PaymentSettings
from shared.db import Database, MongoClient


@dataclass(frozen=True)
class PaymentContext:
    client: MongoClient
    db: Database
    settings: PaymentSettings
    providers: dict[str, PaymentProvider]
    # The app's registry at start-up (providers/registry.py); a private one elsewhere (tests, tools).
    metrics: PaymentMetrics = field(default_factory=PaymentMetrics)

    def provider(self, name: str) -> PaymentProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderUnavailable(f"The {name} provider is not offered here.")
        return provider

    @property
    def timeout(self) -> float:
        return self.settings.transaction_timeout_seconds


def payment_context(request: Request) -> PaymentContext:
    """The context built at start-up (providers/registry.py), for routers."""
    ctx: PaymentContext = request.app.state.payment_context
    return ctx


Context = Annotated[PaymentContext, Depends(payment_context)]
