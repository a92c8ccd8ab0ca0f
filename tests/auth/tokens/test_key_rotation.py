"""The key-rotation procedure of services/auth/tokens/keys.py, step by step: no token is rejected
while it runs, and the old key's tokens stop verifying once its public key is withdrawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.settings import AuthSettings, generate_signing_key_pem
from services.auth.tokens.access import issue_access_token
from services.auth.tokens.keys import KeyRing, key_id
from shared.tokens import InvalidToken, StaticKeySet, TokenVerifier


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def settings(tmp_path: Path, signing: str, additional: str = "") -> AuthSettings:
    return AuthSettings(
        _env_file=None,
        env="test",
        data_dir=tmp_path,
        jwt_signing_key=signing,
        jwt_additional_public_keys=additional,
    )


def verifier(ring: KeyRing, config: AuthSettings) -> TokenVerifier:
    return TokenVerifier(
        StaticKeySet(ring.public_keys),
        issuer=config.jwt_issuer,
        audience=config.jwt_audience,
        leeway_seconds=0,
    )


async def test_rotation_never_rejects_a_valid_token(tmp_path: Path) -> None:
    old, new = generate_signing_key_pem(), generate_signing_key_pem()

    before = settings(tmp_path, old)
    old_ring = KeyRing.from_settings(before)
    old_token = issue_access_token(old_ring, before, user_id="u1", role="customer")

    # Step 1: the next key is published but signs nothing yet.
    step1 = settings(tmp_path, old, public_pem(new))
    ring1 = KeyRing.from_settings(step1)
    assert len(ring1.jwks()["keys"]) == 2
    assert ring1.signing_kid == old_ring.signing_kid
    await verifier(ring1, step1).verify(old_token)

    # Step 2: the next key signs; the old public key stays published.
    step2 = settings(tmp_path, new, public_pem(old))
    ring2 = KeyRing.from_settings(step2)
    new_token = issue_access_token(ring2, step2, user_id="u1", role="customer")
    assert ring2.signing_kid != old_ring.signing_kid
    await verifier(ring2, step2).verify(old_token)
    await verifier(ring2, step2).verify(new_token)
    # A verifier that fetched the JWKS during step 1 already knows the new key.
    await verifier(ring1, step1).verify(new_token)

    # Step 3: the old key is withdrawn once its tokens have expired.
    step3 = settings(tmp_path, new)
    ring3 = KeyRing.from_settings(step3)
    await verifier(ring3, step3).verify(new_token)
    with pytest.raises(InvalidToken):
        await verifier(ring3, step3).verify(old_token)


def test_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    pem = generate_signing_key_pem()
    ring = KeyRing.from_settings(settings(tmp_path, pem))
    assert ring.signing_kid == key_id(ring.signing_key.public_key())
    assert ring.jwks()["keys"][0]["kid"] == ring.signing_kid
    assert len(ring.signing_kid) == 43  # base64url of a SHA-256 digest, unpadded


def test_only_ed25519_public_keys_may_be_published(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ValueError, match="Ed25519"):
        KeyRing.from_settings(settings(tmp_path, generate_signing_key_pem(), pem))
