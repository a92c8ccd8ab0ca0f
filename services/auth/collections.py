"""The collections the auth service owns, with their indexes (created at start-up)."""

from pymongo import ASCENDING, IndexModel

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
}
