"""`GET /api/v1/captcha`: a fresh ALTCHA challenge for the widget; 404 when CAPTCHA is off or hosted
by an external provider (whose widget the SPA loads itself). The gateway's own route: no service
owns `/api/v1/captcha` (gateway/routing.py), so the proxy never sees it."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.captcha.gate import CaptchaGate
from shared.errors import NotFound

CAPTCHA_PATH = "/api/v1/captcha"


class AltchaParameters(BaseModel):
    """The work asked for (ALTCHA v2): what the widget needs to solve the challenge."""

    model_config = ConfigDict(extra="allow")

    algorithm: str = Field(examples=["PBKDF2/SHA-256"])
    cost: int = Field(ge=1, description="Iterations of the key derivation per try.")
    keyLength: int = Field(ge=1)  # noqa: N815 - the widget's own field names
    keyPrefix: str  # noqa: N815
    nonce: str
    salt: str
    expiresAt: int = Field(description="Unix time after which a solution is refused.")  # noqa: N815


class AltchaChallenge(BaseModel):
    """A signed, expiring challenge, as the ALTCHA widget fetches it."""

    model_config = ConfigDict(extra="allow")

    parameters: AltchaParameters
    signature: str


def captcha_router() -> APIRouter:
    router = APIRouter(tags=["captcha"])

    @router.get(
        CAPTCHA_PATH,
        response_model=AltchaChallenge,
        summary="A fresh ALTCHA challenge",
        description=(
            "Signed and expiring; the solved payload goes, base64-encoded, in `X-Captcha-Response`, "
            "and is accepted once. 404 when CAPTCHA is off or an external provider is configured."
        ),
        responses={404: {"description": "No challenge is served: CAPTCHA is off or hosted elsewhere"}},
    )
    async def captcha_challenge(request: Request) -> JSONResponse:
        gate: CaptchaGate = request.app.state.captcha
        if gate.altcha is None:
            raise NotFound(
                "No CAPTCHA challenge is served here: CAPTCHA is off or hosted by an external provider."
            )
        challenge: dict[str, Any] = await asyncio.to_thread(gate.altcha.create)
        AltchaChallenge.model_validate(challenge)  # what is documented is what is sent
        # Each challenge is single-use: no cache may hand the same one to two clients.
        return JSONResponse(challenge, headers={"Cache-Control": "no-store"})

    return router
