"""Wire models of users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

# Long enough for any real password phrase; the policy caps what is hashed.
PasswordField = Annotated[str, Field(min_length=1, max_length=1024)]
Role = Literal["customer", "admin"]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: PasswordField
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class User(BaseModel):
    """A user as clients see it: never a hash or a secret."""

    id: str
    email: str
    name: str
    role: Role
    created_at: datetime
