"""Wire models of carts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.money import MAX_LINE_QUANTITY, MoneyOut

Problem = Literal["inactive", "unavailable", "insufficient_stock", "total_too_large"]


class CartItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(
        ge=1,
        le=MAX_LINE_QUANTITY,
        strict=True,
        description="The quantity wanted (replaces the current one); MAX_LINE_QUANTITY is the shop's limit.",
    )


# Carts are priced on every read, from prices that may have changed since a line was added: the
# response accepts any amount (MoneyOut) and says what is too large instead of failing.
class CartLine(BaseModel):
    product_id: str
    quantity: int
    sku: str | None
    name: str | None
    unit_price: MoneyOut | None = Field(description="The current catalog price; null if the product is gone.")
    line_total: MoneyOut | None
    available: int = Field(description="Units in stock now (a cart reserves nothing).")
    problems: list[Problem] = Field(description="Why this line cannot be ordered as it is, if it cannot.")


class Cart(BaseModel):
    items: list[CartLine]
    totals: list[MoneyOut] = Field(description="One total per currency of the orderable lines.")
    orderable: bool = Field(description="True when every line can be ordered as it is.")
    problems: list[Literal["total_too_large"]] = Field(
        default_factory=list,
        description="Why the cart as a whole cannot be ordered: a currency's total is above the maximum.",
    )
