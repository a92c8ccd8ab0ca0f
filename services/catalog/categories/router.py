"""HTTP routes of categories."""

from fastapi import APIRouter, Request, Response, status

from services.catalog.categories import service
from services.catalog.categories.schemas import Category, CategoryCreate, CategoryList
from shared.audit import Caller, RequestOrigin
from shared.deps import AdminUser, Db
from shared.http_cache import conditional_json

router = APIRouter(prefix="/api/v1/categories", tags=["categories"])


@router.get("", response_model=CategoryList, summary="List categories")
async def list_categories(request: Request, db: Db) -> Response:
    return conditional_json(request, CategoryList(items=await service.list_categories(db)))


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Category, summary="Create a category (admin)"
)
async def create_category(body: CategoryCreate, db: Db, admin: AdminUser, origin: RequestOrigin) -> Category:
    return await service.create_category(db, body, Caller.of(admin, origin))
