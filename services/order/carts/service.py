"""Cart use cases: view with live prices and availability, set a line, remove a line."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from bson import ObjectId

from services.order.carts import repository
from services.order.carts.errors import CartFull, ProductInactive, ProductUnavailable, QuantityTooLarge
from services.order.carts.schemas import Cart, CartLine, Problem
from services.order.catalog import repository as catalog
from services.order.orders.errors import TotalTooLarge
from services.order.settings import OrderSettings
from shared.clock import utcnow
from shared.db import Database, Document
from shared.ids import to_object_id
from shared.money import MAX_AMOUNT, MoneyOut, within_bounds


def price_line(item: Document, product: Document | None) -> CartLine:
    problems: list[Problem] = []
    if product is None:
        problems.append("unavailable")
    elif not product["active"]:
        problems.append("inactive")
    elif product["stock"] < item["quantity"]:
        problems.append("insufficient_stock")
    unit = MoneyOut(**product["price"]) if product else None
    line_total = MoneyOut(amount=unit.amount * item["quantity"], currency=unit.currency) if unit else None
    if line_total is not None and not within_bounds(line_total.amount):
        problems.append("total_too_large")
    return CartLine(
        product_id=str(item["product_id"]),
        quantity=item["quantity"],
        sku=product["sku"] if product else None,
        name=product["name"] if product else None,
        unit_price=unit,
        line_total=line_total,
        available=product["stock"] if product and product["active"] else 0,
        problems=problems,
    )


def currency_totals(lines: Iterable[CartLine]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        if line.line_total:
            totals[line.line_total.currency] += line.line_total.amount
    return totals


async def view_cart(db: Database, user_id: str) -> Cart:
    """The caller's cart, priced from the catalog now; lines that cannot be ordered say why."""
    cart = await repository.find_cart(db, user_id)
    items = cart["items"] if cart else []
    products = await catalog.find_products(db, (item["product_id"] for item in items))
    lines = [price_line(item, products.get(item["product_id"])) for item in items]
    totals = currency_totals(line for line in lines if not line.problems)
    too_large = not all(within_bounds(amount) for amount in totals.values())
    return Cart(
        items=lines,
        totals=[MoneyOut(amount=amount, currency=currency) for currency, amount in sorted(totals.items())],
        orderable=bool(lines) and all(not line.problems for line in lines) and not too_large,
        problems=["total_too_large"] if too_large else [],
    )


async def set_item(
    db: Database, settings: OrderSettings, user_id: str, product_id: str, quantity: int
) -> Cart:
    """Put a product in the cart with this quantity (replacing any quantity already there)."""
    if quantity > settings.max_line_quantity:
        raise QuantityTooLarge(f"At most {settings.max_line_quantity} units per line.")
    oid = to_object_id(product_id)
    cart = await repository.find_cart(db, user_id)
    items = [item for item in (cart["items"] if cart else []) if item["product_id"] != oid]
    items.append({"product_id": oid, "quantity": quantity})
    products = await catalog.find_products(db, (item["product_id"] for item in items))
    product = products.get(oid)
    if product is None:
        raise ProductUnavailable(f"No product with id {product_id}.")
    if not product["active"]:
        raise ProductInactive("This product can no longer be ordered.")
    _refuse_too_large(items, products)
    if not await repository.set_quantity(db, user_id, oid, quantity, utcnow(), settings.max_cart_items):
        raise CartFull(f"A cart holds at most {settings.max_cart_items} different products.")
    return await view_cart(db, user_id)


def _refuse_too_large(items: list[Document], products: dict[ObjectId, Document]) -> None:
    """422 before writing when the cart, with the new line, would come to more than one order may.

    Every active line counts, in stock or not: stock comes back, and the cart must stay orderable.
    """
    priced = [price_line(item, products.get(item["product_id"])) for item in items]
    totals = currency_totals(line for line in priced if "inactive" not in line.problems)
    for currency, amount in totals.items():
        if not within_bounds(amount):
            raise TotalTooLarge(
                f"With this quantity the cart would come to {amount} {currency} (minor units); an order "
                f"may come to at most {MAX_AMOUNT}.",
                limit=MAX_AMOUNT,
            )


async def remove_item(db: Database, user_id: str, product_id: str) -> Cart:
    """Take a product out of the cart (nothing happens if it was not there)."""
    await repository.remove_item(db, user_id, to_object_id(product_id), utcnow())
    return await view_cart(db, user_id)
