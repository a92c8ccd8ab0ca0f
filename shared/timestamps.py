"""Instants a client sends in a query (`created_from=2026-01-31T12:00:00Z`): RFC 3339, read strictly.

Stated in the published schema as `format: date-time` plus a pattern, and checked on the server by
the same rule, so both sides agree on every value:

- an offset is required (`Z` or `+hh:mm`): a bare local time means nothing to a server in UTC;
- years 1000 to 9998, so no offset can carry an instant outside what the server (and MongoDB's
  dates) represent: `0001-01-01T01:00:00+01:04` used to overflow converting to UTC and answer 500;
- at most six fractional digits (microseconds), no leap second, and a real calendar date.

Anything else, numbers such as `-0.99999` (which pydantic would read as a Unix time) included, is a
422 naming the parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainValidator, WithJsonSchema

_YEAR = r"(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
RFC3339_PATTERN = (
    rf"^{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
MESSAGE = (
    "must be an RFC 3339 date-time with an offset and a year from 1000 to 9998, such as 2026-01-31T12:00:00Z"
)
_INSTANT = re.compile(RFC3339_PATTERN)


def parse_instant(value: object) -> datetime:
    """The UTC instant of an RFC 3339 text within the bounds above; ValueError otherwise."""
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise ValueError(MESSAGE)
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):  # a day the month does not have, for one
        raise ValueError(MESSAGE) from None


# What the document says is exactly what `parse_instant` accepts.
Instant = Annotated[
    datetime,
    PlainValidator(parse_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": RFC3339_PATTERN,
            "description": "RFC 3339 with an offset (`2026-01-31T12:00:00Z`); years 1000 to 9998.",
            "examples": ["2026-01-31T12:00:00Z"],
        }
    ),
]
