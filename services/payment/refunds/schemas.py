"""Wire models of refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.ids import OBJECT_ID_PATTERN
from shared.money import MAX_AMOUNT, MoneyOut


class RestockLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Annotated[str, Field(pattern=OBJECT_ID_PATTERN)]
    quantity: int = Field(ge=1, strict=True)


class CreateRefund(BaseModel):
    """`amount` defaults to the named lines' value, or else to everything still refundable."""

    model_config = ConfigDict(extra="forbid")

    amount: int | None = Field(default=None, ge=1, le=MAX_AMOUNT, strict=True)
    items: list[RestockLine] | None = Field(default=None, min_length=1, max_length=500)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _distinct_lines(self) -> CreateRefund:
        if self.items is not None and len({line.product_id for line in self.items}) != len(self.items):
            raise ValueError("each product may appear in one line only")
        return self


class Refund(BaseModel):
    id: str
    payment_id: str
    order_id: str
    status: Literal["pending", "succeeded", "failed"]
    amount: MoneyOut = Field(description="In the currency the provider captured.")
    items: list[RestockLine]
    reason: str
    automatic: bool = Field(default=False, description="Started by the shop itself (money it cannot keep).")
    external: bool = Field(
        default=False, description="Made at the provider (its dashboard), not by the shop."
    )
    attention: str | None = None
    created_at: datetime
    updated_at: datetime


class RefundList(BaseModel):
    items: list[Refund]
