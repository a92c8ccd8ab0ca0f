"""The auth service's key ring: one Ed25519 key that signs, and every public key that verifies.

Rotation (no token is ever rejected during it):
1. Generate the next key; add its public half to JWT_ADDITIONAL_PUBLIC_KEYS. It is published in the
   JWKS but signs nothing. Wait at least JWKS_CACHE_SECONDS so every verifier has it.
2. Make it JWT_SIGNING_KEY, and move the old key's public half into JWT_ADDITIONAL_PUBLIC_KEYS.
3. After ACCESS_TOKEN_TTL_SECONDS (plus leeway) no valid token names the old key: remove it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.auth.settings import AuthSettings
from shared.tokens import ACCESS_TOKEN_ALGORITHM

_PEM_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint: the same key always gets the same kid, on every replica."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw(public_key))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw(public_key)),
        "kid": key_id(public_key),
        "use": "sig",
        "alg": ACCESS_TOKEN_ALGORITHM,
    }


def parse_public_keys(pem_blocks: str) -> list[Ed25519PublicKey]:
    keys = []
    for block in _PEM_PUBLIC_KEY.findall(pem_blocks):
        key = serialization.load_pem_public_key(block.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("JWT_ADDITIONAL_PUBLIC_KEYS may only hold Ed25519 public keys")
        keys.append(key)
    return keys


@dataclass(frozen=True)
class KeyRing:
    signing_key: Ed25519PrivateKey
    signing_kid: str
    public_keys: dict[str, Ed25519PublicKey]

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> KeyRing:
        assert settings.jwt_signing_key is not None  # required in production, generated elsewhere
        private = serialization.load_pem_private_key(
            settings.jwt_signing_key.get_secret_value().encode(), password=None
        )
        assert isinstance(private, Ed25519PrivateKey)  # checked by the settings validator
        published = [private.public_key(), *parse_public_keys(settings.jwt_additional_public_keys)]
        return cls(private, key_id(private.public_key()), {key_id(key): key for key in published})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(key) for key in self.public_keys.values()]}
