"""HTTP routes of products: anyone reads, admins write."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from services.catalog.products import service, stock
from services.catalog.products.listing import ListingQuery
from services.catalog.products.schemas import (
    Product,
    ProductCreate,
    ProductList,
    ProductPatch,
    Sku,
    Slug,
    Sort,
    StockAdjustmentRequest,
    StockAdjustmentResult,
)
from services.catalog.settings import CatalogSettings
from shared.audit import Caller, RequestOrigin
from shared.context import ServiceContext
from shared.deps import AdminUser, Db, OptionalUser, get_context
from shared.http_cache import conditional_json
from shared.ids import ProductId
from shared.money import MAX_AMOUNT, Currency
from shared.tokens import AdminRequired

router = APIRouter(prefix="/api/v1/products", tags=["products"])


def offered_currencies(request: Request) -> list[str]:
    """SHOP_CURRENCIES: what prices may be in."""
    currencies: list[str] = request.app.state.settings.shop_currencies
    return currencies


Offered = Annotated[list[str], Depends(offered_currencies)]
Context = Annotated[ServiceContext[CatalogSettings], Depends(get_context)]

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is current."}
}


@router.get("", response_model=ProductList, responses=NOT_MODIFIED, summary="List products")
async def list_products(
    request: Request,
    db: Db,
    user: OptionalUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="Words of the name or description.")] = None,
    category: Slug | None = None,
    active: Annotated[
        bool | None, Query(description="Admins only: include or select inactive products.")
    ] = None,
    in_stock: bool | None = None,
    min_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT)] = None,
    currency: Currency | None = None,
    sort: Sort = "newest",
) -> Response:
    is_admin = user is not None and user.is_admin
    if active is False and not is_admin:
        raise AdminRequired("Only admins can list inactive products.")
    query = ListingQuery(limit, sort, cursor, q, category, active, in_stock, min_price, max_price, currency)
    return conditional_json(request, await service.list_products(db, query, include_inactive=is_admin))


@router.get("/sku/{sku}", response_model=Product, responses=NOT_MODIFIED, summary="Get a product by SKU")
async def get_product_by_sku(request: Request, sku: Annotated[Sku, Path()], db: Db) -> Response:
    return conditional_json(request, await service.get_product_by_sku(db, sku))


@router.get("/{product_id}", response_model=Product, responses=NOT_MODIFIED, summary="Get one product")
async def get_product(request: Request, product_id: ProductId, db: Db) -> Response:
    return conditional_json(request, await service.get_product(db, product_id))


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Product, summary="Create a product (admin)"
)
async def create_product(
    body: ProductCreate, db: Db, admin: AdminUser, origin: RequestOrigin, offered: Offered, response: Response
) -> Product:
    product = await service.create_product(db, body, offered, Caller.of(admin, origin))
    response.headers["Location"] = f"{router.prefix}/{product.id}"
    return product


@router.patch("/{product_id}", response_model=Product, summary="Change a product (admin)")
async def patch_product(
    product_id: ProductId,
    body: ProductPatch,
    db: Db,
    admin: AdminUser,
    origin: RequestOrigin,
    offered: Offered,
) -> Product:
    return await service.patch_product(db, product_id, body, offered, Caller.of(admin, origin))


@router.delete(
    "/{product_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Deactivate a product (admin)"
)
async def deactivate_product(
    product_id: ProductId, db: Db, admin: AdminUser, origin: RequestOrigin
) -> Response:
    await service.deactivate_product(db, product_id, Caller.of(admin, origin))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{product_id}/stock-adjustments",
    response_model=StockAdjustmentResult,
    summary="Add or remove stock with a reason (admin)",
)
async def adjust_stock(
    product_id: ProductId, body: StockAdjustmentRequest, ctx: Context, admin: AdminUser, origin: RequestOrigin
) -> StockAdjustmentResult:
    return await stock.adjust_stock(ctx, product_id, body, admin, origin)
