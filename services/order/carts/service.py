"""Cart use cases: view with live prices and availability, set a line, remove a line."""

from __future__ import annotations

from collections import defaultdict

from services.order.carts import repository
from services.order.carts.errors import CartFull, ProductInactive, ProductUnavailable, QuantityTooLarge
from services.order.carts.schemas import Cart, CartLine, Problem
from services.order.catalog import repository as catalog
from services.order.settings import OrderSettings
from shared.clock import utcnow
from shared.db import Database, Document
from shared.ids import to_object_id
from shared.money import Money


def price_line(item: Document, product: Document | None) -> CartLine:
    problems: list[Problem] = []
    if product is None:
        problems.append("unavailable")
    elif not product["active"]:
        problems.append("inactive")
    elif product["stock"] < item["quantity"]:
        problems.append("insufficient_stock")
    unit = Money(**product["price"]) if product else None
    return CartLine(
        product_id=str(item["product_id"]),
        quantity=item["quantity"],
        sku=product["sku"] if product else None,
        name=product["name"] if product else None,
        unit_price=unit,
        line_total=Money(amount=unit.amount * item["quantity"], currency=unit.currency) if unit else None,
        available=product["stock"] if product and product["active"] else 0,
        problems=problems,
    )


async def view_cart(db: Database, user_id: str) -> Cart:
    """The caller's cart, priced from the catalog now; lines that cannot be ordered say why."""
    cart = await repository.find_cart(db, user_id)
    items = cart["items"] if cart else []
    products = await catalog.find_products(db, (item["product_id"] for item in items))
    lines = [price_line(item, products.get(item["product_id"])) for item in items]
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        if line.line_total and not line.problems:
            totals[line.line_total.currency] += line.line_total.amount
    return Cart(
        items=lines,
        totals=[Money(amount=amount, currency=currency) for currency, amount in sorted(totals.items())],
        orderable=bool(lines) and all(not line.problems for line in lines),
    )


async def set_item(
    db: Database, settings: OrderSettings, user_id: str, product_id: str, quantity: int
) -> Cart:
    """Put a product in the cart with this quantity (replacing any quantity already there)."""
    if quantity > settings.max_line_quantity:
        raise QuantityTooLarge(f"At most {settings.max_line_quantity} units per line.")
    oid = to_object_id(product_id)
    product = (await catalog.find_products(db, [oid])).get(oid)
    if product is None:
        raise ProductUnavailable(f"No product with id {product_id}.")
    if not product["active"]:
        raise ProductInactive("This product can no longer be ordered.")
    if not await repository.set_quantity(db, user_id, oid, quantity, utcnow(), settings.max_cart_items):
        raise CartFull(f"A cart holds at most {settings.max_cart_items} different products.")
    return await view_cart(db, user_id)


async def remove_item(db: Database, user_id: str, product_id: str) -> Cart:
    """Take a product out of the cart (nothing happens if it was not there)."""
    await repository.remove_item(db, user_id, to_object_id(product_id), utcnow())
    return await view_cart(db, user_id)
