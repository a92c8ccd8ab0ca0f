"""App factory of the catalog service (run with `uvicorn --factory services.catalog.app:create_app`)."""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from services.catalog.categories.router import router as categories_router
from services.catalog.collections import COLLECTIONS
from services.catalog.products.migration import search_terms_lifespan
from services.catalog.products.ranks import ranks_lifespan
from services.catalog.products.router import router as products_router
from services.catalog.settings import CatalogSettings, get_settings
from shared.app import create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_service_app(
        settings,
        title="Catalog service",
        collections=COLLECTIONS,
        routers=[categories_router, products_router],
        lifespans=[search_terms_lifespan, ranks_lifespan],
    )
    list_offered_currencies(app, settings.shop_currencies)
    return app


def list_offered_currencies(app: FastAPI, currencies: Sequence[str]) -> None:
    """The document's `Price.currency` is SHOP_CURRENCIES, what create and patch accept, rather
    than every ISO 4217 code a `Money` may carry elsewhere."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # built once and kept by FastAPI; the change below is idempotent
        price = document.get("components", {}).get("schemas", {}).get("Price")
        if price is not None:
            price["properties"]["currency"]["enum"] = list(currencies)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
