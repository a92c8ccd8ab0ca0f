"""HTTP routes of categories."""

from fastapi import APIRouter

from services.catalog.categories import service
from services.catalog.categories.schemas import CategoryList
from shared.deps import Db

router = APIRouter(prefix="/api/v1/categories", tags=["categories"])


@router.get("", response_model=CategoryList, summary="List categories")
async def list_categories(db: Db) -> CategoryList:
    return CategoryList(items=await service.list_categories(db))
