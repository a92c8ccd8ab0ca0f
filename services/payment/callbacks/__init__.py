"""The HTTP routes providers (and shoppers coming back from them) call: webhooks and callbacks.

One module per provider. Each verifies what arrives (a signature, or the provider's own answer to a
question we ask it), hands the verified event to settlement (payments/settlement.py) and answers;
the provider clients they use are in `services/payment/providers/`. A provider that is not enabled
has no route at all.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

from services.payment.settings import PaymentSettings

MODULES: dict[str, str] = {
    "sandbox": "services.payment.callbacks.sandbox",
    "stripe": "services.payment.callbacks.stripe",
    "bkash": "services.payment.callbacks.bkash",
    "nagad": "services.payment.callbacks.nagad",
}


def routers(settings: PaymentSettings) -> list[APIRouter]:
    """The routes of the enabled providers (nothing for a provider that is off)."""
    found: list[APIRouter] = []
    for name in settings.enabled_providers():
        router: APIRouter = importlib.import_module(MODULES[name]).router
        found.append(router)
    return found
