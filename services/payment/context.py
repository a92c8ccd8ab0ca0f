"""What the payment use cases share: the service's context, the enabled providers and the alarms."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from services.payment.metrics import PaymentMetrics
from services.payment.payments.errors import ProviderUnavailable
from services.payment.providers.base import PaymentProvider
from services.payment.providers.instrumented import instrument
from services.payment.providers.registry import build_providers
from services.payment.settings import PaymentSettings
from shared.context import ServiceContext
from shared.logging import log_event

logger = logging.getLogger("payment.providers")


@dataclass(frozen=True)
class PaymentContext(ServiceContext[PaymentSettings]):
    providers: dict[str, PaymentProvider]
    # The app's metrics registry at start-up; a private one elsewhere (tests, tools).
    metrics: PaymentMetrics = field(default_factory=PaymentMetrics)

    def provider(self, name: str) -> PaymentProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderUnavailable(f"The {name} provider is not offered here.")
        return provider


@asynccontextmanager
async def payment_context_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the enabled providers and the context at start-up; close the providers at shutdown."""
    settings: PaymentSettings = app.state.settings
    providers = build_providers(settings, app.state.db)
    if not providers:
        log_event(logger, "payment.no_providers", logging.WARNING, hint="set PAYMENT_PROVIDERS")
    metrics = PaymentMetrics(app.state.metrics.registry)
    for provider in providers.values():
        instrument(provider, metrics)  # traced and counted (providers/instrumented.py)
    app.state.payment_context = PaymentContext(
        app.state.mongo_client,
        app.state.db,
        settings,
        providers,
        metrics,
        transaction_metrics=app.state.service_metrics.transactions,
    )
    try:
        yield
    finally:
        for provider in providers.values():
            await provider.aclose()


def payment_context(request: Request) -> PaymentContext:
    """The context built at start-up, for routers."""
    ctx: PaymentContext = request.app.state.payment_context
    return ctx


Context = Annotated[PaymentContext, Depends(payment_context)]
