"""Errors of the users domain."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ValidationFailed


class EmailTaken(Conflict):
    slug, title = "email-taken", "An account with this email exists"


class WeakPassword(ValidationFailed):
    slug, title = "weak-password", "The password does not meet the policy"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(
            " ".join(reasons),
            errors=[
                {"loc": ["body", "password"], "msg": reason, "type": "weak_password"} for reason in reasons
            ],
        )


class UserNotFound(NotFound):
    slug, title = "user-not-found", "User not found"
