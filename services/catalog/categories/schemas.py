"""Wire models of categories."""

from pydantic import BaseModel, ConfigDict


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    slug: str
    name: str


class CategoryList(BaseModel):
    items: list[Category]
