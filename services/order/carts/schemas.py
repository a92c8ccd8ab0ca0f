"""Wire models of carts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.money import Money

Problem = Literal["inactive", "unavailable", "insufficient_stock"]


class CartItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=1, strict=True, description="The quantity wanted (replaces the current one).")


class CartLine(BaseModel):
    product_id: str
    quantity: int
    sku: str | None
    name: str | None
    unit_price: Money | None = Field(description="The current catalog price; null if the product is gone.")
    line_total: Money | None
    available: int = Field(description="Units in stock now (a cart reserves nothing).")
    problems: list[Problem] = Field(description="Why this line cannot be ordered as it is, if it cannot.")


class Cart(BaseModel):
    items: list[CartLine]
    totals: list[Money] = Field(description="One total per currency of the orderable lines.")
    orderable: bool = Field(description="True when every line can be ordered as it is.")
