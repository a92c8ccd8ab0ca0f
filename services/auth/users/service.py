"""User use cases: register, read a profile, create the bootstrap admin."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from services.auth.passwords.hashing import PasswordHasher
from services.auth.passwords.policy import password_problems
from services.auth.settings import AuthSettings
from services.auth.users import repository
from services.auth.users.errors import EmailTaken, UserNotFound, WeakPassword
from services.auth.users.schemas import RegisterRequest, User
from shared.audit import Action, Caller, Target, audit
from shared.db import Database, Document
from shared.errors import CaptchaRequired
from shared.logging import log_event

logger = logging.getLogger("auth.users")


def normalize_email(email: str) -> str:
    """One spelling per mailbox for uniqueness and lookups (pydantic already normalised the domain)."""
    return email.strip().lower()


def to_user(doc: Document) -> User:
    return User(
        id=str(doc["_id"]),
        email=doc["email"],
        name=doc["name"],
        role=doc["role"],
        created_at=doc["created_at"],
    )


def new_user_document(email: str, name: str, password_hash: str, role: str) -> Document:
    now = datetime.now(UTC)
    return {
        "email": email,
        "name": name,
        "password_hash": password_hash,
        "role": role,
        "created_at": now,
        "updated_at": now,
    }


def check_password_policy(password: str, email: str) -> None:
    reasons = password_problems(password, email=email)
    if reasons:
        raise WeakPassword(reasons)


async def register(
    db: Database, hasher: PasswordHasher, settings: AuthSettings, data: RegisterRequest, *, captcha_ok: bool
) -> User:
    """Create a customer account; the role is never the client's to choose."""
    if settings.captcha_enabled and settings.captcha_on_register and not captcha_ok:
        raise CaptchaRequired("Registration needs a CAPTCHA solution in the X-Captcha-Response header.")
    email = normalize_email(data.email)
    check_password_policy(data.password, email)
    doc = new_user_document(email, data.name, await hasher.hash(data.password), "customer")
    try:
        doc["_id"] = await repository.insert_user(db, doc)
    except DuplicateKeyError:
        raise EmailTaken("An account with this email already exists.") from None
    log_event(logger, "user.registered", user_id=str(doc["_id"]))
    return to_user(doc)


async def get_user(db: Database, user_id: str) -> User:
    """The caller's own profile."""
    doc = await repository.find_by_id(db, ObjectId(user_id)) if ObjectId.is_valid(user_id) else None
    if doc is None:
        raise UserNotFound("The account no longer exists.")
    return to_user(doc)


async def ensure_bootstrap_admin(db: Database, hasher: PasswordHasher, settings: AuthSettings) -> None:
    """Create the admin named by BOOTSTRAP_ADMIN_EMAIL/PASSWORD when both are set and it does not exist."""
    if not settings.bootstrap_admin_email or not settings.bootstrap_admin_password:
        return
    email = normalize_email(settings.bootstrap_admin_email)
    if await repository.find_by_email(db, email) is not None:
        return
    password = settings.bootstrap_admin_password.get_secret_value()
    reasons = password_problems(password, email=email)
    if reasons:
        raise ValueError("BOOTSTRAP_ADMIN_PASSWORD does not meet the password policy: " + " ".join(reasons))
    doc = new_user_document(email, "Administrator", await hasher.hash(password), "admin")
    if await repository.insert_if_absent(db, doc):
        log_event(logger, "user.bootstrap_admin_created", email=email)
        created = await repository.find_by_email(db, email)
        target = Target("user", str(created["_id"]) if created else email)
        after = {"email": email, "role": "admin"}
        await audit(db, Action.ROLE_GRANTED, Caller.system("bootstrap"), target, before=None, after=after)
