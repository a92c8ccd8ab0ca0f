"""Integers as JSON Schema counts them: `3` and `3.0` are the same integer, `true` and `"3"` are not.

Request schemas say `type: integer`, under which JSON Schema (and so every generated client and
validator) accepts a number with a zero fractional part. Pydantic's strict integers refuse `3.0`,
and its lax ones accept `"3"` and `true`; this type takes exactly what the schema allows.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Strict


def _integral_number(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # anything else goes to the strict check, which refuses it unless it is an int


JsonInt = Annotated[int, BeforeValidator(_integral_number), Strict()]
