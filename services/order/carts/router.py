"""HTTP routes of the caller's cart."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.order.carts import service
from services.order.carts.schemas import Cart, CartItemUpdate
from shared.deps import CurrentUser, Db
from shared.ids import ProductId

router = APIRouter(prefix="/api/v1/cart", tags=["cart"])


@router.get("", response_model=Cart, summary="The caller's cart, with current prices")
async def view_cart(user: CurrentUser, db: Db) -> Cart:
    return await service.view_cart(db, user.user_id)


@router.put("/items/{product_id}", response_model=Cart, summary="Set a product's quantity in the cart")
async def set_item(
    request: Request, product_id: ProductId, body: CartItemUpdate, user: CurrentUser, db: Db
) -> Cart:
    return await service.set_item(db, request.app.state.settings, user.user_id, product_id, body.quantity)


@router.delete("/items/{product_id}", response_model=Cart, summary="Remove a product from the cart")
async def remove_item(product_id: ProductId, user: CurrentUser, db: Db) -> Cart:
    return await service.remove_item(db, user.user_id, product_id)
