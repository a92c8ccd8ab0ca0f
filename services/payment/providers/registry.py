"""Which providers run in this process: built at start-up from the settings, closed at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from services.payment.context import PaymentContext
from services.payment.providers import sandbox
from services.payment.providers.base import PaymentProvider
from services.payment.settings import PaymentSettings
from shared.db import Database


def build_providers(settings: PaymentSettings, db: Database) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    for name in settings.enabled_providers():
        if name == "sandbox":
            providers[name] = sandbox.SandboxProvider(db, settings.public_base_url)
    return providers


def provider_routers(settings: PaymentSettings) -> list[APIRouter]:
    """Webhook and callback routes of the enabled providers (nothing for a provider that is off)."""
    routers: list[APIRouter] = []
    if "sandbox" in settings.enabled_providers():
        routers.append(sandbox.router)
    return routers


@asynccontextmanager
async def providers_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: PaymentSettings = app.state.settings
    providers = build_providers(settings, app.state.db)
    app.state.payment_context = PaymentContext(app.state.mongo_client, app.state.db, settings, providers)
    try:
        yield
    finally:
        for provider in providers.values():
            await provider.aclose()
