"""Signing-key rotations in the audit trail.

A rotation is a deployment (JWT_SIGNING_KEY changes, services/auth/tokens/keys.py), not an API
call, so the auth service records it at start-up: when the key it signs with is not the one the
last rotation record names, it appends one with the old and new key ids (RFC 7638 thumbprints of
the public halves: nothing secret). The first start on a database records the first key. Two
replicas starting together with a new key may both record it; the records then agree.
"""

from __future__ import annotations

import logging

from services.auth.audit import repository
from services.auth.tokens.keys import KeyRing
from shared.audit import Action, Caller, Target, audit
from shared.db import Database
from shared.logging import log_event

logger = logging.getLogger("auth.keys")


async def record_signing_key(db: Database, ring: KeyRing) -> bool:
    """Append a rotation record when the signing key changed since the last one; True if it did."""
    last = await repository.latest(db, Action.SIGNING_KEY_ROTATED.value)
    previous = (last.get("after") or {}).get("kid") if last else None
    if previous == ring.signing_kid:
        return False
    await audit(
        db,
        Action.SIGNING_KEY_ROTATED,
        Caller.system("startup"),
        Target("signing_key", ring.signing_kid),
        before={"kid": previous} if previous else None,
        after={"kid": ring.signing_kid, "published": sorted(ring.public_keys)},
    )
    log_event(logger, "keys.signing_key_recorded", kid=ring.signing_kid, previous=previous)
    return True
