"""Query instants (shared/timestamps.py): RFC 3339 with an offset, years 1000 to 9998, nothing else;
the published pattern and the server's parsing agree on every value."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.timestamps import RFC3339_PATTERN, parse_instant


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31t12:00:00.25z", datetime(2026, 1, 31, 12, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-01-31T12:00:00+06:00", datetime(2026, 1, 31, 6, tzinfo=UTC)),
        ("1000-01-01T00:00:00+23:59", datetime(999, 12, 31, 0, 1, tzinfo=UTC)),
        ("9998-12-31T23:59:59-23:59", datetime(9999, 1, 1, 23, 58, 59, tzinfo=UTC)),
    ],
)
def test_instants_within_the_bounds_are_read_in_utc(text: str, instant: datetime) -> None:
    assert re.fullmatch(RFC3339_PATTERN, text)
    assert parse_instant(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T01:00:00+01:04",  # overflowed converting to UTC: a 500 before
        "9999-12-31T23:59:59-01:00",
        "-0.99999",  # a number pydantic would have read as a Unix time
        "1700000000",
        "2026-01-31T12:00:00",  # no offset
        "2026-01-31",
        "2026-02-30T00:00:00Z",  # matches the pattern, but no such day
        "2026-01-31T12:00:60Z",
        "2026-01-31T12:00:00.1234567Z",
        "2026-01-31 12:00:00Z",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_instant(text)


def test_only_strings_are_instants() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_instant(1_700_000_000)
