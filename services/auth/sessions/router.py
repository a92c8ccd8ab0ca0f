"""HTTP routes of sessions: login, refresh, logout.

The refresh token travels one way per session, chosen at login: in the JSON body (native and server
clients), or only in an HttpOnly, Secure, SameSite=Strict cookie scoped to /api/v1/auth (browsers:
`refresh_token_delivery: "cookie"`), never both, so a browser's scripts never see it. A refresh
answers the way the token came: sent in the body, the successor is in the body; sent as the cookie,
the cookie is rotated and the body has none. A browser never sends that cookie on a cross-site
request, and these routes only accept a JSON body (a cross-site form cannot send one without a CORS
preflight the gateway refuses), so a forged cross-site request can neither use nor rotate the cookie.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from services.auth.deps import CaptchaVerified, ClientIp, Hasher, Keys, Settings
from services.auth.sessions import login as login_use_case
from services.auth.sessions import rotation, service
from services.auth.sessions.errors import InvalidRefreshToken
from services.auth.sessions.schemas import LoginRequest, RefreshRequest, RefreshTokenDelivery, TokenPair
from services.auth.sessions.service import IssuedTokens, SessionContext
from services.auth.settings import AuthSettings
from shared.audit import RequestOrigin
from shared.deps import Db, Mongo

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def session_context(
    db: Db, client: Mongo, ring: Keys, settings: Settings, request: Request
) -> SessionContext:
    # The service's transaction metrics (db_transactions_total), as every other context has them.
    counted = request.app.state.context.transaction_metrics
    return SessionContext(client, db, settings, ring, transaction_metrics=counted)


Context = Annotated[SessionContext, Depends(session_context)]


def presented_refresh_token(
    body: RefreshRequest, request: Request, settings: AuthSettings
) -> tuple[str, RefreshTokenDelivery] | None:
    """The token presented, and how it came (the successor goes back the same way)."""
    if body.refresh_token:
        return body.refresh_token, "body"
    cookie = request.cookies.get(settings.refresh_cookie_name)
    return (cookie, "cookie") if cookie else None


def _respond(
    response: Response, settings: AuthSettings, issued: IssuedTokens, delivery: RefreshTokenDelivery
) -> TokenPair:
    response.headers["Cache-Control"] = "no-store"
    if delivery == "body":
        return TokenPair(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in=issued.expires_in,
            refresh_expires_in=issued.refresh_expires_in,
        )
    response.set_cookie(
        settings.refresh_cookie_name,
        issued.refresh_token,
        max_age=issued.refresh_expires_in,
        path=settings.refresh_cookie_path,
        secure=settings.refresh_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return TokenPair(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_expires_in=issued.refresh_expires_in,
    )


@router.post(
    "/login",
    response_model=TokenPair,
    response_model_exclude_none=True,
    summary="Log in with email and password",
)
async def login(
    body: LoginRequest,
    response: Response,
    ctx: Context,
    hasher: Hasher,
    ip: ClientIp,
    captcha_ok: CaptchaVerified,
    origin: RequestOrigin,
) -> TokenPair:
    issued = await login_use_case.login(ctx, hasher, body, ip=ip, captcha_ok=captcha_ok, origin=origin)
    return _respond(response, ctx.settings, issued, body.refresh_token_delivery)


@router.post(
    "/refresh",
    response_model=TokenPair,
    response_model_exclude_none=True,
    summary="Exchange a refresh token for a new access token and its successor",
)
async def refresh(body: RefreshRequest, request: Request, response: Response, ctx: Context) -> TokenPair:
    presented = presented_refresh_token(body, request, ctx.settings)
    if presented is None:
        raise InvalidRefreshToken("Send the refresh token in the body or the refresh cookie.")
    token, delivery = presented
    return _respond(response, ctx.settings, await rotation.rotate(ctx, token), delivery)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End the session")
async def logout(body: RefreshRequest, request: Request, ctx: Context) -> Response:
    presented = presented_refresh_token(body, request, ctx.settings)
    if presented is not None:
        await service.end_session(ctx, presented[0])
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        ctx.settings.refresh_cookie_name,
        path=ctx.settings.refresh_cookie_path,
        secure=ctx.settings.refresh_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response
