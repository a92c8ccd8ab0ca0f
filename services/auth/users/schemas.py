"""Wire models of users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from services.auth.passwords.policy import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from shared.text import SingleLineText

# A new password: the policy's bounds (services/auth/passwords/policy.py), stated in the schema; what
# else the policy refuses (common passwords, patterns) is a 422 weak-password.
PasswordField = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
# A password presented at login is only compared: any that could ever have been set fits.
LoginPasswordField = Annotated[str, Field(min_length=1, max_length=1024)]
# RFC 5321's limit on a forward path; the email validator enforces it too.
EmailField = Annotated[EmailStr, Field(max_length=254)]
Role = Literal["customer", "admin"]
# One line of text (shared.text: no control characters or line breaks), stripped, 1 to 100 characters.
NameField = Annotated[str, SingleLineText(100)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailField
    password: PasswordField
    name: NameField


class User(BaseModel):
    """A user as clients see it: never a hash or a secret."""

    id: str
    email: str
    name: str
    role: Role
    created_at: datetime
