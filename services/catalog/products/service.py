"""Product use cases: create, read, list, change, deactivate."""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from services.catalog.categories import repository as categories
from services.catalog.products import repository
from services.catalog.products.errors import (
    CurrencyNotOffered,
    DuplicateSku,
    ProductNotFound,
    UnknownCategory,
)
from services.catalog.products.listing import SORTS, ListingQuery, encode_cursor, listing_filter
from services.catalog.products.schemas import Product, ProductCreate, ProductList, ProductPatch
from services.catalog.products.search import name_key, search_terms
from shared.audit import Action, Caller, Target, audit
from shared.clock import utcnow
from shared.db import Database, Document
from shared.errors import Conflict
from shared.ids import to_object_id
from shared.logging import log_event
from shared.money import Money, MoneyOut

logger = logging.getLogger("catalog.products")
# Optimistic retries of a patch that raced another write of the same product.
PATCH_ATTEMPTS = 5
# Who changes the catalog when no admin does: the seeder and benchmarks, writing directly.
TOOL = Caller.system("tool")
# What an audit record of a product change shows before and after (never the derived search fields).
AUDITED_FIELDS = ("sku", "name", "description", "price", "stock", "category", "active", "images")


def audited(doc: Document, fields: tuple[str, ...] | list[str] = AUDITED_FIELDS) -> Document:
    return {name: doc.get(name) for name in fields}


def to_product(doc: Document) -> Product:
    return Product(
        id=str(doc["_id"]),
        sku=doc["sku"],
        name=doc["name"],
        description=doc.get("description", ""),
        price=MoneyOut(**doc["price"]),
        stock=doc["stock"],
        category=doc.get("category"),
        active=doc["active"],
        images=doc.get("images", []),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        version=doc["version"],
    )


def derived_fields(name: str, description: str, sku: str, category: str | None) -> Document:
    """What listings sort and search on, recomputed whenever its inputs change."""
    return {"name_key": name_key(name), "search_terms": search_terms(name, description, sku, category)}


async def require_category(db: Database, slug: str | None) -> None:
    if slug is not None and not await categories.category_exists(db, slug):
        raise UnknownCategory(f"There is no category {slug!r}; create it first.")


def require_offered(price: Money | None, offered: list[str] | None) -> None:
    """A price must be in one of the shop's currencies (SHOP_CURRENCIES; None: a tool writing directly)."""
    if price is not None and offered is not None and price.currency not in offered:
        raise CurrencyNotOffered(
            f"This shop sells in {', '.join(offered)}, not {price.currency}.", offered=offered
        )


async def create_product(
    db: Database, data: ProductCreate, offered: list[str] | None = None, caller: Caller = TOOL
) -> Product:
    """Add a product to the catalog."""
    require_offered(data.price, offered)
    await require_category(db, data.category)
    now = utcnow()
    doc: Document = {
        "_id": ObjectId(),
        **data.model_dump(mode="json"),
        **derived_fields(data.name, data.description, data.sku, data.category),
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    try:
        await repository.insert_product(db, doc)
    except DuplicateKeyError:
        raise DuplicateSku(f"SKU {data.sku!r} is already in the catalog.") from None
    log_event(logger, "product.created", product_id=str(doc["_id"]), sku=data.sku)
    await audit(db, Action.PRODUCT_CREATED, caller, Target("product", str(doc["_id"])), after=audited(doc))
    return to_product(doc)


async def get_product(db: Database, product_id: str) -> Product:
    """One product by id."""
    return to_product(await _existing(db, to_object_id(product_id)))


async def get_product_by_sku(db: Database, sku: str) -> Product:
    """One product by SKU (how partners sync)."""
    doc = await repository.find_by_sku(db, sku)
    if doc is None:
        raise ProductNotFound(f"No product with SKU {sku!r}.")
    return to_product(doc)


async def list_products(db: Database, query: ListingQuery, *, include_inactive: bool) -> ProductList:
    """One page of a listing, and the cursor of the next."""
    spec = SORTS[query.sort]
    docs = await repository.list_products(
        db, listing_filter(query, include_inactive=include_inactive), spec.mongo_sort(), query.limit + 1
    )
    page = docs[: query.limit]
    next_cursor = encode_cursor(page[-1], query.sort) if len(docs) > query.limit else None
    return ProductList(items=[to_product(doc) for doc in page], next_cursor=next_cursor)


async def patch_product(
    db: Database,
    product_id: str,
    patch: ProductPatch,
    offered: list[str] | None = None,
    caller: Caller = TOOL,
) -> Product:
    """Change what an admin may change; concurrent patches of one product never lose each other."""
    require_offered(patch.price, offered)
    changes = patch.model_dump(mode="json", exclude_unset=True)
    if "category" in changes:
        await require_category(db, changes["category"])
    oid = to_object_id(product_id)
    for _ in range(PATCH_ATTEMPTS):
        current = await _existing(db, oid)
        merged: dict[str, Any] = {**current, **changes}
        update = {
            **changes,
            **derived_fields(
                merged["name"], merged.get("description", ""), merged["sku"], merged.get("category")
            ),
            "updated_at": utcnow(),
        }
        updated = await repository.update_if_version(db, oid, current["version"], update)
        if updated is not None:
            log_event(logger, "product.updated", product_id=product_id, fields=sorted(changes))
            await audit(
                db,
                Action.PRODUCT_CHANGED,
                caller,
                Target("product", product_id),
                before=audited(current, sorted(changes)),
                after=audited(updated, sorted(changes)),
            )
            return to_product(updated)
    raise Conflict("The product is being changed by someone else; try again.")


async def deactivate_product(db: Database, product_id: str, caller: Caller = TOOL) -> None:
    """Hide a product from listings and orders, keeping it and its history (idempotent)."""
    oid = to_object_id(product_id)
    if await repository.deactivate(db, oid, utcnow()) is None:
        await _existing(db, oid)  # 404 for an unknown id; an inactive one is already done
    else:
        log_event(logger, "product.deactivated", product_id=product_id)
        target = Target("product", product_id)
        await audit(
            db, Action.PRODUCT_DEACTIVATED, caller, target, before={"active": True}, after={"active": False}
        )


async def _existing(db: Database, product_id: ObjectId) -> Document:
    doc = await repository.find_product(db, product_id)
    if doc is None:
        raise ProductNotFound(f"No product with id {product_id}.")
    return doc
