"""A fake of the hosted CAPTCHAs' siteverify endpoints (Turnstile, hCaptcha, reCAPTCHA) for tests.

    python -m tests.fakes.siteverify_server --port N --secret S

Follows the providers' documented siteverify protocols: `POST /turnstile/v0/siteverify` (Turnstile;
form or JSON body) and `POST /siteverify` (hCaptcha and reCAPTCHA; form only) take `secret`,
`response` and optional `remoteip`, and answer `{"success", "error-codes", "challenge_ts",
"hostname"}`. Error codes: `missing-input-secret`, `invalid-input-secret`, `missing-input-response`,
`invalid-input-response`, `timeout-or-duplicate` (a token spent or past its lifetime),
`bad-request`. Tokens are single use, as the providers' are.

Test controls (not the providers'), under `/__control/`:

- `POST tokens` `{hostname?: "shop.example", ttl_seconds?: 300, reusable?: false}` -> `{"token"}`:
  what a widget would hand the SPA. A `reusable` token passes every time (like Turnstile's
  always-pass test secret), so a test can see the relying party refuse a replay on its own.
- `GET requests`: the siteverify calls received, in order, as `{path, response, remoteip,
  secret_ok}` (never the secret).
- `POST faults` `{mode: "hang" | "error", count, seconds?: 5}`: the next `count` siteverify calls
  hang for `seconds` (then answer 500) or answer 500 at once.

`GET /__health` answers 200 once the server is up.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field


@dataclass
class Token:
    hostname: str
    issued_at: float
    expires_at: float
    reusable: bool
    spent: bool = False


@dataclass
class Faults:
    mode: Literal["hang", "error"] = "error"
    remaining: int = 0
    seconds: float = 5.0


@dataclass
class FakeState:
    secret: str
    tokens: dict[str, Token] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hostname: str = "shop.example"
    ttl_seconds: float = Field(default=300, gt=0)
    reusable: bool = False


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["hang", "error"]
    count: int = Field(ge=0)
    seconds: float = Field(default=5.0, ge=0, le=60)


async def read_fields(request: Request, *, json_allowed: bool) -> dict[str, str] | None:
    """The body's fields: form-urlencoded (every provider), or JSON (Turnstile only); None if neither."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if content_type == "application/json" and json_allowed:
        try:
            data = await request.json()
        except ValueError:
            return None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None
    return None


def verdict(state: FakeState, fields: dict[str, str]) -> dict[str, Any]:
    """The provider's answer to one siteverify call; spends the token when it passes."""
    secret, response = fields.get("secret", ""), fields.get("response", "")
    if not secret:
        return failure("missing-input-secret")
    if not hmac.compare_digest(secret.encode(), state.secret.encode()):
        return failure("invalid-input-secret")
    if not response:
        return failure("missing-input-response")
    token = state.tokens.get(response)
    if token is None:
        return failure("invalid-input-response")
    if (token.spent and not token.reusable) or time.time() > token.expires_at:
        return failure("timeout-or-duplicate")
    token.spent = True
    issued = datetime.fromtimestamp(token.issued_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"success": True, "error-codes": [], "challenge_ts": issued, "hostname": token.hostname}


def failure(code: str) -> dict[str, Any]:
    return {"success": False, "error-codes": [code]}


def create_app(secret: str) -> FastAPI:
    state = FakeState(secret)
    app = FastAPI(title="Fake siteverify")

    async def siteverify(request: Request, *, json_allowed: bool) -> JSONResponse:
        fields = await read_fields(request, json_allowed=json_allowed)
        state.requests.append(
            {
                "path": request.url.path,
                "response": (fields or {}).get("response"),
                "remoteip": (fields or {}).get("remoteip"),
                "secret_ok": (fields or {}).get("secret") == state.secret,
            }
        )
        if state.faults.remaining > 0:
            state.faults.remaining -= 1
            if state.faults.mode == "hang":
                await asyncio.sleep(state.faults.seconds)
            return JSONResponse({"error": "internal"}, status_code=500)
        if fields is None:
            return JSONResponse(failure("bad-request"))
        return JSONResponse(verdict(state, fields))

    @app.post("/turnstile/v0/siteverify")
    async def turnstile(request: Request) -> JSONResponse:
        return await siteverify(request, json_allowed=True)

    @app.post("/siteverify")
    async def hcaptcha_or_recaptcha(request: Request) -> JSONResponse:
        return await siteverify(request, json_allowed=False)

    @app.post("/__control/tokens")
    async def mint(body: TokenRequest) -> dict[str, str]:
        value = "fake." + secrets.token_urlsafe(48)
        now = time.time()
        state.tokens[value] = Token(body.hostname, now, now + body.ttl_seconds, body.reusable)
        return {"token": value}

    @app.get("/__control/requests")
    async def received() -> list[dict[str, Any]]:
        return state.requests

    @app.post("/__control/faults")
    async def faults(body: FaultRequest) -> dict[str, int]:
        state.faults = Faults(body.mode, body.count, body.seconds)
        return {"remaining": body.count}

    @app.get("/__health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake of the hosted CAPTCHAs' siteverify endpoints.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.secret), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
