"""The public keys that verify access tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from services.auth.tokens.keys import KeyRing

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    ring: KeyRing = request.app.state.key_ring
    response.headers["Cache-Control"] = (
        f"public, max-age={int(request.app.state.settings.jwks_cache_seconds)}"
    )
    return ring.jwks()
