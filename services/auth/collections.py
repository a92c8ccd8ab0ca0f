"""The collections the auth service owns, with their indexes (created at start-up)."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from shared.audit import AUDIT_COLLECTION
from shared.db import CollectionIndexes

COLLECTIONS: CollectionIndexes = {
    "users": [IndexModel([("email", ASCENDING)], unique=True, name="email_unique")],
    # One family per login; gone (with its tokens) once its absolute lifetime is over.
    "token_families": [
        IndexModel([("user_id", ASCENDING)], name="user"),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="purge_when_expired"),
    ],
    # Keyed by the token's HMAC. Spent tokens are kept until their family ends, to detect reuse.
    "refresh_tokens": [
        IndexModel([("family_id", ASCENDING)], name="family"),
        IndexModel([("purge_at", ASCENDING)], expireAfterSeconds=0, name="purge_with_family"),
    ],
    "login_failures": [
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="purge_when_expired")
    ],
    # The audit trail: every service appends (shared/audit.py), auth owns it and serves the listing;
    # newest first, alone or after one equality filter, so every page is read from an index.
    AUDIT_COLLECTION: [
        IndexModel([("at", DESCENDING), ("_id", DESCENDING)], name="newest"),
        IndexModel([("actor.id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="actor"),
        IndexModel([("action", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="action"),
        IndexModel(
            [("target.type", ASCENDING), ("target.id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)],
            name="target",
        ),
    ],
}
