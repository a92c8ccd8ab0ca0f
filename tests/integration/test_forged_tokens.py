"""Every kind of forged or stale access token answers 401, through the gateway and in a verifier
that fetches the auth service's JWKS the way every other service does."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.stack import Stack
from shared.tokens import InvalidToken, JwksKeySet, TokenVerifier
from tests.builders import bearer, login, register
from tests.conftest import internal_headers

ISSUER, AUDIENCE = "shop-auth", "shop-api"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def signing_key(stack: Stack) -> Ed25519PrivateKey:
    """The auth service's own key (generated into the test stack's data dir), to forge tokens
    whose signature is genuine but whose claims are wrong."""
    pem = (stack.settings.data_dir / "dev-secrets" / "jwt_signing_key").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


@pytest.fixture(scope="module")
async def genuine(gateway: httpx.AsyncClient) -> dict[str, Any]:
    account = await register(gateway)
    return await login(gateway, account.email, account.password)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "665f1c2ab8e4d1a9c3f0b7d2",  # pragma: allowlist secret
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def signed(key: Ed25519PrivateKey, kid: str, payload: dict[str, Any], typ: str = "at+jwt") -> str:
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid, "typ": typ})


def genuine_kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


Forgery = Callable[[Ed25519PrivateKey, str], str]

FORGERIES: dict[str, Forgery] = {
    "alg none": lambda key, token: (
        b64url(json.dumps({"alg": "none", "typ": "at+jwt", "kid": genuine_kid(token)}).encode())
        + "."
        + b64url(json.dumps(claims()).encode())
        + "."
    ),
    "HS256 keyed with the public key": lambda key, token: jwt.encode(
        claims(),
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex(),
        algorithm="HS256",
        headers={"kid": genuine_kid(token), "typ": "at+jwt"},
    ),
    "unknown kid": lambda key, token: signed(Ed25519PrivateKey.generate(), "not-a-published-kid", claims()),
    "published kid, other key": lambda key, token: signed(
        Ed25519PrivateKey.generate(), genuine_kid(token), claims()
    ),
    "tampered payload": lambda key, token: ".".join(
        [token.split(".")[0], b64url(json.dumps(claims()).encode()), token.split(".")[2]]
    ),
    "expired": lambda key, token: signed(
        key, genuine_kid(token), claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "wrong audience": lambda key, token: signed(key, genuine_kid(token), claims(aud="another-api")),
    "wrong issuer": lambda key, token: signed(key, genuine_kid(token), claims(iss="https://evil.example")),
    "missing jti": lambda key, token: signed(key, genuine_kid(token), claims(jti=None)),
    "missing exp": lambda key, token: signed(key, genuine_kid(token), claims(exp=None)),
    "unknown role": lambda key, token: signed(key, genuine_kid(token), claims(role="superuser")),
    "not an access token": lambda key, token: signed(key, genuine_kid(token), claims(), typ="JWT"),
    "garbage": lambda key, token: "not.a.jwt",
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_tokens_are_401_through_the_gateway(
    gateway: httpx.AsyncClient, genuine: dict[str, Any], signing_key: Ed25519PrivateKey, forgery: str
) -> None:
    token = FORGERIES[forgery](signing_key, genuine["access_token"])
    response = await gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, forgery
    assert response.json()["type"] == "/problems/invalid-token"


async def test_a_correctly_signed_token_is_accepted(
    gateway: httpx.AsyncClient, genuine: dict[str, Any], signing_key: Ed25519PrivateKey
) -> None:
    """The forgeries above fail for their flaw alone: the same key and claims, unflawed, pass."""
    me = (await gateway.get("/api/v1/auth/me", headers=bearer(genuine))).json()
    token = signed(signing_key, genuine_kid(genuine["access_token"]), claims(sub=me["id"], role="customer"))
    response = await gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.fixture
async def jwks_verifier(stack: Stack) -> AsyncIterator[TokenVerifier]:
    async with httpx.AsyncClient(headers=internal_headers()) as client:
        url = f"{stack.url_of('auth')}/api/v1/auth/.well-known/jwks.json"
        yield TokenVerifier(JwksKeySet(client, url, 300), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=5)


async def test_other_services_verify_locally_from_the_jwks(
    jwks_verifier: TokenVerifier, genuine: dict[str, Any], signing_key: Ed25519PrivateKey
) -> None:
    principal = await jwks_verifier.verify(genuine["access_token"])
    assert principal.role == "customer"
    for forge in FORGERIES.values():
        with pytest.raises(InvalidToken):
            await jwks_verifier.verify(forge(signing_key, genuine["access_token"]))
