"""Wire models of products."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    UrlConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from shared.json_numbers import JsonInt
from shared.money import MAX_STOCK, Money, MoneyOut
from shared.text import MultiLineText, SingleLineText

# Every string has a length bound and every list a maximum length, so no request can make the
# service store (or list in an error) more than these; free text refuses control characters.
Sku = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", max_length=64),
    Field(examples=["TEA-GREEN-100G"]),
]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]
Name = Annotated[str, SingleLineText(200)]
Description = Annotated[str, MultiLineText(5000)]
ImageUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["https"])]
Images = Annotated[list[ImageUrl], Field(max_length=10)]
Stock = Annotated[JsonInt, Field(ge=0, le=MAX_STOCK)]
Reason = Annotated[str, MultiLineText(200, min_length=1, strip=True)]
Sort = Literal["newest", "price_asc", "price_desc", "name"]


class Price(Money):
    """A product's price: Money in one of SHOP_CURRENCIES, which the catalog's document lists
    (services/catalog/app.py); any other currency is a 422 currency-not-offered."""


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: Name
    description: Description = ""
    price: Price
    stock: Stock = 0
    category: Slug | None = None
    active: StrictBool = True
    images: Images = []


class ProductPatch(BaseModel):
    """What an admin may change; `sku`, `stock` (use stock adjustments), `version` and timestamps are not."""

    model_config = ConfigDict(extra="forbid")

    # Left out means unchanged; null is refused (below), so the schema does not offer it.
    name: Name | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    price: Price | SkipJsonSchema[None] = None
    category: Slug | None = Field(default=None, description="null removes the product from its category.")
    active: StrictBool | SkipJsonSchema[None] = None
    images: Images | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_nulls_but_category(self) -> ProductPatch:
        """Absent means "unchanged"; an explicit null only makes sense for the (optional) category."""
        nulled = sorted(
            name for name in self.model_fields_set if name != "category" and getattr(self, name) is None
        )
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null; leave a field out to keep it")
        return self


class Product(BaseModel):
    """A product as stored; read back without re-checking input bounds (MoneyOut, plain ints)."""

    id: str
    sku: str
    name: str
    description: str
    price: MoneyOut
    stock: int
    category: str | None
    active: bool
    images: list[str]
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Changes on every write.")


class ProductList(BaseModel):
    items: list[Product]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class StockAdjustmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delta: JsonInt = Field(
        ge=-(10**6),
        le=10**6,
        description="Units to add (negative to remove); never zero.",
        json_schema_extra={"not": {"const": 0}},
    )
    reason: Reason

    @field_validator("delta")
    @classmethod
    def _changes_something(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("must not be zero")
        return delta


class StockAdjustment(BaseModel):
    id: str
    product_id: str
    delta: int
    reason: str
    actor: str
    at: datetime


class StockAdjustmentResult(BaseModel):
    product_id: str
    stock: int
    version: int
    adjustment: StockAdjustment
