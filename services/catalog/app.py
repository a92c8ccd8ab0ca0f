"""App factory of the catalog service (run with `uvicorn --factory services.catalog.app:create_app`)."""

from fastapi import FastAPI

from services.catalog.categories.router import router as categories_router
from services.catalog.collections import COLLECTIONS
from services.catalog.products.router import router as products_router
from services.catalog.settings import CatalogSettings, get_settings
from shared.app import create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="Catalog service",
        collections=COLLECTIONS,
        routers=[categories_router, products_router],
    )
