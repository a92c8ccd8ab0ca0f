"""The public keys that verify access tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.auth.tokens.keys import KeyRing
from services.auth.tokens.schemas import Jwks

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.get("/.well-known/jwks.json", response_model=Jwks, summary="Public keys that verify access tokens")
async def jwks(request: Request, response: Response) -> Jwks:
    ring: KeyRing = request.app.state.key_ring
    response.headers["Cache-Control"] = (
        f"public, max-age={int(request.app.state.settings.jwks_cache_seconds)}"
    )
    return Jwks.model_validate(ring.jwks())
