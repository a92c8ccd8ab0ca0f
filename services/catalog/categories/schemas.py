"""Wire models of categories."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from services.catalog.products.schemas import Slug


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Category(BaseModel):
    id: str
    slug: str
    name: str


class CategoryList(BaseModel):
    items: list[Category]
