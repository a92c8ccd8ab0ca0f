"""Signing keys, access tokens and the public JWKS."""
