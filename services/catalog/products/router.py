"""HTTP routes of products."""

from fastapi import APIRouter

from services.catalog.products import service
from services.catalog.products.schemas import Product
from shared.deps import Db
from shared.ids import ProductId

router = APIRouter(prefix="/api/v1/products", tags=["products"])


@router.get("/{product_id}", response_model=Product, summary="Get one product")
async def get_product(product_id: ProductId, db: Db) -> Product:
    return await service.get_product(db, product_id)
