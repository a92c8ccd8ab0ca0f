"""Which providers run in this process: built at start-up from the settings, closed at shutdown."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import APIRouter, FastAPI

from services.payment.context import PaymentContext
from services.payment.metrics import PaymentMetrics
from services.payment.providers.base import PaymentProvider
from services.payment.settings import PaymentSettings
from shared.db import Database
from shared.logging import log_event

logger = logging.getLogger("payment.providers")

# Each provider module offers `create(settings, db) -> PaymentProvider` and a `router`
# (its webhook or callback routes).
PROVIDER_MODULES: dict[str, str] = {
    "sandbox": "services.payment.providers.sandbox",
    "stripe": "services.payment.providers.stripe",
    "bkash": "services.payment.providers.bkash",
    "nagad": "services.payment.providers.nagad",
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(PROVIDER_MODULES[name])


def build_providers(settings: PaymentSettings, db: Database) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    for name in settings.enabled_providers():
        provider: PaymentProvider = _module(name).create(settings, db)
        providers[name] = provider
    return providers


def provider_routers(settings: PaymentSettings) -> list[APIRouter]:
    """Webhook and callback routes of the enabled providers (nothing for a provider that is off)."""
    return [_module(name).router for name in settings.enabled_providers()]


@asynccontextmanager
async def providers_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: PaymentSettings = app.state.settings
    providers = build_providers(settings, app.state.db)
    if not providers:
        log_event(logger, "payment.no_providers", logging.WARNING, hint="set PAYMENT_PROVIDERS")
    metrics = PaymentMetrics(app.state.metrics.registry)
    app.state.payment_context = PaymentContext(
        app.state.mongo_client, app.state.db, settings, providers, metrics
    )
    try:
        yield
    finally:
        for provider in providers.values():
            await provider.aclose()
