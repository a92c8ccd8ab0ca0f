"""Admin stock adjustments: an atomic $inc and its history entry, in one transaction."""

from __future__ import annotations

import logging

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.catalog.products import repository
from services.catalog.products.errors import ProductNotFound, StockTooLarge, StockWouldGoNegative
from services.catalog.products.schemas import StockAdjustment, StockAdjustmentRequest, StockAdjustmentResult
from services.catalog.settings import CatalogSettings
from shared.audit import Action, Caller, Origin, Target, audit
from shared.clock import utcnow
from shared.context import ServiceContext
from shared.ids import to_object_id
from shared.logging import log_event
from shared.money import MAX_STOCK
from shared.tokens import Principal

logger = logging.getLogger("catalog.stock")


async def adjust_stock(
    ctx: ServiceContext[CatalogSettings],
    product_id: str,
    request: StockAdjustmentRequest,
    actor: Principal,
    origin: Origin | None = None,
) -> StockAdjustmentResult:
    """Add or remove stock with a reason; going below zero or above MAX_STOCK changes nothing (409)."""
    db = ctx.db
    oid = to_object_id(product_id)
    now = utcnow()
    adjustment = {
        "_id": ObjectId(),
        "product_id": oid,
        "delta": request.delta,
        "reason": request.reason,
        "actor": actor.user_id,
        "at": now,
    }

    async def record_then_apply(session: AsyncClientSession) -> tuple[int, int]:
        await repository.insert_adjustment(db, adjustment, session)
        # The contended write goes last, just before commit (docs/transactions.md).
        updated = await repository.increment_stock(db, oid, request.delta, MAX_STOCK, now, session)
        if updated is None:
            current = await repository.find_product(db, oid, session)
            if current is None:
                raise ProductNotFound(f"No product with id {product_id}.")
            if request.delta > 0:
                raise StockTooLarge(
                    f"{current['stock']} in stock; adding {request.delta} would pass {MAX_STOCK}.",
                    available=current["stock"],
                    limit=MAX_STOCK,
                )
            raise StockWouldGoNegative(
                f"Only {current['stock']} in stock; cannot remove {-request.delta}.",
                available=current["stock"],
            )
        # In the same transaction: the record exists exactly when the stock moved.
        await audit(
            db,
            Action.STOCK_ADJUSTED,
            Caller.of(actor, origin or Origin()),
            Target("product", product_id),
            session,
            before={"stock": updated["stock"] - request.delta},
            after={"stock": updated["stock"]},
            details={"delta": request.delta, "reason": request.reason, "adjustment_id": adjustment["_id"]},
        )
        return updated["stock"], updated["version"]

    stock, version = await ctx.transaction(record_then_apply)
    log_event(
        logger, "stock.adjusted", product_id=product_id, delta=request.delta, stock=stock, actor=actor.user_id
    )
    return StockAdjustmentResult(
        product_id=product_id,
        stock=stock,
        version=version,
        adjustment=StockAdjustment(
            id=str(adjustment["_id"]),
            product_id=product_id,
            delta=request.delta,
            reason=request.reason,
            actor=actor.user_id,
            at=now,
        ),
    )
