"""Which providers run in this process: built from the settings at start-up (services/payment/context.py)."""

from __future__ import annotations

import importlib

from services.payment.providers.base import PaymentProvider
from services.payment.settings import PaymentSettings
from shared.db import Database

# Each provider package offers `create(settings, db) -> PaymentProvider`.
PROVIDER_PACKAGES: dict[str, str] = {
    "sandbox": "services.payment.providers.sandbox",
    "stripe": "services.payment.providers.stripe",
    "bkash": "services.payment.providers.bkash",
    "nagad": "services.payment.providers.nagad",
}


def build_providers(settings: PaymentSettings, db: Database) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    for name in settings.enabled_providers():
        provider: PaymentProvider = importlib.import_module(PROVIDER_PACKAGES[name]).create(settings, db)
        providers[name] = provider
    return providers
