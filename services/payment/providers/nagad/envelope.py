"""Nagad's RSA envelope: what we send is encrypted for Nagad and signed by us; what Nagad signs is
decrypted with our key and verified with Nagad's.

Requests carry `sensitiveData` = base64(RSA PKCS#1 v1.5 encryption of a compact JSON string with
Nagad's public key) and `signature` = base64(RSASSA-PKCS1-v1_5 over the *same* JSON bytes with the
merchant's private key). The signature's hash is NAGAD_SIGNATURE_ALGORITHM, both ways: Nagad's guide
v3.3 names SHA1withRSA, while every sample of Nagad's and every maintained client uses SHA256withRSA
(the default). RSA-2048 with PKCS#1 v1.5 encrypts at most 245 bytes, so what is
sealed is kept short and checked before sending. An answer that fails decryption or verification is
refused, never retried.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.payment.providers.base import ProviderError


def _der(text: str) -> bytes:
    """PEM (any label, including PHP samples' mislabelled PKCS#8) or Nagad's bare base64 DER."""
    lines = text.replace("\\n", "\n").replace("\\r", "").splitlines()
    body = "".join("".join(line.split()) for line in lines if not line.strip().startswith("-----"))
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise ValueError("not a base64 DER or PEM key") from error


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(_der(text), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Nagad merchant private key must be an RSA key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(_der(text))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("Nagad's public key must be an RSA key")
    return key


SignatureAlgorithm = Literal["SHA256", "SHA1"]


def _hash(algorithm: SignatureAlgorithm) -> hashes.HashAlgorithm:
    # SHA-1 only where a merchant's Nagad gateway is found to take nothing else (its guide names it).
    return hashes.SHA1() if algorithm == "SHA1" else hashes.SHA256()  # noqa: S303 - Nagad's own scheme


def _compact(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


class Envelope:
    """Seal what we send (encrypt for Nagad, sign as the merchant) and open what Nagad signs."""

    def __init__(
        self,
        merchant_key: rsa.RSAPrivateKey,
        gateway_key: rsa.RSAPublicKey,
        algorithm: SignatureAlgorithm = "SHA256",
    ) -> None:
        self.merchant_key = merchant_key
        self.gateway_key = gateway_key
        self.algorithm = algorithm
        self.limit = gateway_key.key_size // 8 - 11  # PKCS#1 v1.5 overhead: 245 bytes for RSA-2048

    def fits(self, payload: Mapping[str, Any]) -> bool:
        return len(_compact(payload)) <= self.limit

    def seal(self, payload: Mapping[str, Any]) -> tuple[str, str]:
        """(sensitiveData, signature) over one serialization of `payload`: sign exactly what is encrypted."""
        plain = _compact(payload)
        if len(plain) > self.limit:
            raise ProviderError(f"Nagad request too large to encrypt ({len(plain)} bytes)")
        encrypted = self.gateway_key.encrypt(plain, padding.PKCS1v15())
        signature = self.merchant_key.sign(plain, padding.PKCS1v15(), _hash(self.algorithm))
        return base64.b64encode(encrypted).decode(), base64.b64encode(signature).decode()

    def open(self, sensitive: object, signature: object) -> dict[str, Any]:
        """Decrypt Nagad's `sensitiveData` and verify its signature; refuse anything that fails."""
        if not isinstance(sensitive, str) or not isinstance(signature, str):
            raise ProviderError("Nagad's answer carries no sensitiveData/signature")
        try:
            plain = self.merchant_key.decrypt(base64.b64decode(sensitive, validate=True), padding.PKCS1v15())
            self.gateway_key.verify(
                base64.b64decode(signature, validate=True), plain, padding.PKCS1v15(), _hash(self.algorithm)
            )
            data = json.loads(plain)
        except (ValueError, InvalidSignature, binascii.Error) as error:
            # A forged or corrupted answer: never retried, never believed.
            raise ProviderError("Nagad's answer failed decryption or signature verification") from error
        if not isinstance(data, dict):
            raise ProviderError("Nagad's sensitiveData is not a JSON object")
        return data
