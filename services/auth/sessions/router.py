"""HTTP routes of sessions: login, refresh, logout.

The refresh token travels in the JSON body and in an HttpOnly, Secure, SameSite=Strict cookie
scoped to /api/v1/auth. A browser never sends that cookie on a cross-site request, and these routes
only accept a JSON body (a cross-site form cannot send one without a CORS preflight the gateway
refuses), so a forged cross-site request can neither use nor rotate the cookie.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from services.auth.deps import CaptchaVerified, ClientIp, Hasher, Keys, Settings
from services.auth.sessions import login as login_use_case
from services.auth.sessions import rotation, service
from services.auth.sessions.errors import InvalidRefreshToken
from services.auth.sessions.schemas import LoginRequest, RefreshRequest, TokenPair
from services.auth.sessions.service import IssuedTokens, SessionContext
from services.auth.settings import AuthSettings
from shared.deps import Db, Mongo

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def session_context(db: Db, client: Mongo, ring: Keys, settings: Settings) -> SessionContext:
    return SessionContext(client, db, settings, ring)


Context = Annotated[SessionContext, Depends(session_context)]


def presented_refresh_token(body: RefreshRequest, request: Request, settings: AuthSettings) -> str | None:
    return body.refresh_token or request.cookies.get(settings.refresh_cookie_name)


def _respond(response: Response, settings: AuthSettings, issued: IssuedTokens) -> TokenPair:
    response.set_cookie(
        settings.refresh_cookie_name,
        issued.refresh_token,
        max_age=issued.refresh_expires_in,
        path=settings.refresh_cookie_path,
        secure=settings.refresh_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        refresh_expires_in=issued.refresh_expires_in,
    )


@router.post("/login", response_model=TokenPair, summary="Log in with email and password")
async def login(
    body: LoginRequest,
    response: Response,
    ctx: Context,
    hasher: Hasher,
    ip: ClientIp,
    captcha_ok: CaptchaVerified,
) -> TokenPair:
    issued = await login_use_case.login(ctx, hasher, body, ip=ip, captcha_ok=captcha_ok)
    return _respond(response, ctx.settings, issued)


@router.post("/refresh", response_model=TokenPair, summary="Exchange a refresh token for a new pair")
async def refresh(body: RefreshRequest, request: Request, response: Response, ctx: Context) -> TokenPair:
    presented = presented_refresh_token(body, request, ctx.settings)
    if not presented:
        raise InvalidRefreshToken("Send the refresh token in the body or the refresh cookie.")
    return _respond(response, ctx.settings, await rotation.rotate(ctx, presented))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End the session")
async def logout(body: RefreshRequest, request: Request, ctx: Context) -> Response:
    presented = presented_refresh_token(body, request, ctx.settings)
    if presented:
        await service.end_session(ctx, presented)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        ctx.settings.refresh_cookie_name,
        path=ctx.settings.refresh_cookie_path,
        secure=ctx.settings.refresh_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response
