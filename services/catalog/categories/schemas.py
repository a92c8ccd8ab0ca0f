"""Wire models of categories."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict

from services.catalog.products.schemas import Slug
from shared.text import SingleLineText


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Annotated[str, SingleLineText(100)]


class Category(BaseModel):
    id: str
    slug: str
    name: str


class CategoryList(BaseModel):
    items: list[Category]
