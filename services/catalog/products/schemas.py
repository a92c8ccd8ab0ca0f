"""Wire models of products."""

from pydantic import BaseModel, Field


class Money(BaseModel):
    amount: int = Field(description="Minor units (cents, paisa).")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class Product(BaseModel):
    id: str
    sku: str
    name: str
    description: str
    price: Money
    stock: int
    category: str | None
    active: bool
