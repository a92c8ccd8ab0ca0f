"""HTTP routes of users."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.auth.deps import CaptchaVerified, Hasher, Settings
from services.auth.users import service
from services.auth.users.schemas import RegisterRequest, User
from shared.deps import CurrentUser, Db

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/register", status_code=status.HTTP_201_CREATED, response_model=User, summary="Create an account"
)
async def register(
    body: RegisterRequest, db: Db, hasher: Hasher, settings: Settings, captcha_ok: CaptchaVerified
) -> User:
    return await service.register(db, hasher, settings, body, captcha_ok=captcha_ok)


@router.get("/me", response_model=User, summary="The caller's profile")
async def me(user: CurrentUser, db: Db) -> User:
    return await service.get_user(db, user.user_id)
