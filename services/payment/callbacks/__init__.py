"""The HTTP routes providers (and shoppers coming back from them) call: webhooks and callbacks.

One module per provider. Each verifies what arrives (a signature, or the provider's own answer to a
question we ask it), hands the verified event to settlement (payments/settlement.py) and answers;
the provider clients they use are in `services/payment/providers/`. A provider that is not enabled
has no route at all.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

from services.payment.settings import REDIRECT_PROVIDERS, PaymentSettings

MODULES: dict[str, tuple[str, ...]] = {
    "sandbox": ("services.payment.callbacks.sandbox", "services.payment.callbacks.sandbox_page"),
    "stripe": ("services.payment.callbacks.stripe",),
    "bkash": ("services.payment.callbacks.bkash",),
    "nagad": ("services.payment.callbacks.nagad",),
}
# The shop's own result page, where shoppers come back to when no SPA_RETURN_URL is set.
RETURN_PAGE = "services.payment.callbacks.return_page"


def routers(settings: PaymentSettings) -> list[APIRouter]:
    """The routes of the enabled providers (nothing for a provider that is off)."""
    modules = [module for name in settings.enabled_providers() for module in MODULES[name]]
    if not settings.spa_return_url and REDIRECT_PROVIDERS & set(settings.enabled_providers()):
        modules.append(RETURN_PAGE)
    return [importlib.import_module(module).router for module in modules]
