"""Wire models of orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from shared.contracts.orders import FulfilmentStatus, MoneyStatus, OrderStatus
from shared.ids import OBJECT_ID_PATTERN
from shared.json_numbers import JsonInt
from shared.money import MAX_LINE_QUANTITY, MAX_LINES, MoneyOut

ProductIdField = Annotated[str, Field(pattern=OBJECT_ID_PATTERN)]


class OrderLineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductIdField
    quantity: JsonInt = Field(ge=1, le=MAX_LINE_QUANTITY)


# The rule of `_one_source` below, in the document: `items` (with `from_cart` absent or false), or
# `from_cart: true` without `items`; so `{}` is invalid by the schema as on the server.
_ONE_SOURCE: dict[str, Any] = {
    "oneOf": [
        {"required": ["items"], "properties": {"from_cart": {"const": False}}},
        {
            "required": ["from_cart"],
            "properties": {"from_cart": {"const": True}},
            "not": {"required": ["items"]},
        },
    ]
}


class PlaceOrder(BaseModel):
    """Either explicit `items`, or `from_cart: true` to order the caller's cart. Prices are never sent."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_SOURCE)

    # The ceiling here refuses a huge list with one error before its items are looked at; the
    # setting MAX_ORDER_LINES (at most this) is the shop's own limit.
    items: (
        Annotated[list[OrderLineRequest], Field(min_length=1, max_length=MAX_LINES)] | SkipJsonSchema[None]
    ) = None
    from_cart: StrictBool = False

    @field_validator("items", mode="before")
    @classmethod
    def _at_most_max_lines(cls, value: object) -> object:
        # Judged before the list-or-null union, so a huge list is one error (not one per branch).
        if isinstance(value, list) and len(value) > MAX_LINES:
            raise PydanticCustomError(
                "too_long",
                "List should have at most {max_length} items after validation, not {actual_length}",
                {"field_type": "List", "max_length": MAX_LINES, "actual_length": len(value)},
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> PlaceOrder:
        if "items" in self.model_fields_set and self.items is None:
            raise ValueError("`items` cannot be null; leave it out to order the cart")
        if (self.items is None) == (not self.from_cart):
            raise ValueError("send either `items` or `from_cart: true`, not both or neither")
        if self.items is not None:
            ids = [line.product_id for line in self.items]
            if len(ids) != len(set(ids)):
                raise ValueError("each product may appear in one line only; add up the quantities")
        return self


# Response models read what is stored and never re-check input bounds (MoneyOut, plain ints), so an
# order written before a bound existed, or by hand, still reads.
class OrderLine(BaseModel):
    product_id: str
    sku: str
    name: str
    quantity: int
    unit_price: MoneyOut
    line_total: MoneyOut


class HistoryEntry(BaseModel):
    status: OrderStatus
    # Null in entries written before the two statuses existed.
    fulfilment_status: FulfilmentStatus | None = None
    money_status: MoneyStatus | None = None
    at: datetime
    by: str
    reason: str | None = None


class Order(BaseModel):
    id: str
    user_id: str
    status: OrderStatus = Field(
        description=(
            "Kept for existing clients, derived from the two below: pending_payment until paid; "
            "cancelled or expired once closed; refunded once all the money is back; "
            "partially_refunded while some is back and the order has not shipped; otherwise the "
            "fulfilment status (paid, shipped, delivered)."
        )
    )
    fulfilment_status: FulfilmentStatus = Field(
        description="placed -> paid -> shipped -> delivered, or placed -> cancelled | expired."
    )
    money_status: MoneyStatus = Field(description="unpaid -> paid -> partially_refunded -> refunded.")
    items: list[OrderLine]
    total: MoneyOut
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = Field(description="When an unpaid order expires; null once paid or closed.")
    history: list[HistoryEntry]


class OrderList(BaseModel):
    items: list[Order]
    next_cursor: str | None


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["shipped", "delivered"]
